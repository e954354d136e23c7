import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
import ZhifaKafka
@testable import ZhifaRuntime

/// Runs workers in a service group the test can shut down gracefully.
struct RunningWorkers {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ workers: [KafkaWorker]) {
        group = ServiceGroup(configuration: .init(services: workers.map { .init(service: $0) }, logger: testLogger("workers")))
        let g = group
        task = Task { try await g.run() }
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

struct TransientFailure: Error {}

func record(_ topic: String, key: String, id: String, _ value: String = "{}") -> KafkaRecord {
    KafkaRecord(topic: topic, key: key, value: Array(value.utf8), headers: [KafkaHeader("ce_id", id)])
}

@Suite("Worker runtime against the embedded broker", .serialized)
struct WorkerTests {
    static func worker(
        _ cluster: EmbeddedKafkaCluster, config: ZhifaConfiguration, group: String, topics: [String],
        producer: KafkaProducer, backoff: Duration = .milliseconds(20), logger: Logger? = nil, handler: @escaping MessageHandler
    ) -> KafkaWorker {
        var settings = config.worker
        settings.maxAttempts = 3
        settings.initialBackoff = backoff
        settings.maxBackoff = backoff * 5
        settings.shutdownDeadline = .seconds(10)
        var cc = config.consumerConfiguration(bootstrap: cluster.bootstrapServers, group: group, role: group)
        cc.autoCommitIntervalMs = 200
        return KafkaWorker(
            group: group, topics: topics, settings: settings, consumer: cc, producer: producer,
            metricsFactory: NOOPMetricsHandler.instance, logger: logger ?? testLogger(group), handler: handler)
    }

    static func cluster(groups: [String], topics: [String], brokers: Int = 1) throws -> EmbeddedKafkaCluster {
        let c = try EmbeddedKafkaCluster(brokers: brokers, logger: testLogger("broker"))
        for t in topics { try c.createTopic(t, partitions: 6, replicationFactor: Int32(brokers)) }
        for g in groups {
            try c.createTopic(TopicNames.deadLetter(g), partitions: 6)
            try c.createTopic(TopicNames.retry(g), partitions: 6)
        }
        return c
    }

    @Test("a handler that always fails dead-letters the message with provenance; the partition keeps flowing; replay reaches that group only, once")
    func deadLetterAndReplay() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-fail", "g-ok"], topics: ["in"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let healed = Atomic<Bool>(false)
        let failSeen = Recorder<String>()
        let okSeen = Recorder<String>()
        let failing = Self.worker(cluster, config: config, group: "g-fail", topics: ["in"], producer: producer) { m in
            let id = m.headers.text("ce_id") ?? "?"
            if id == "poison" && !healed.load(ordering: .relaxed) { throw TransientFailure() }
            #expect(m.topic == "in", "a replayed message shows its original topic")
            failSeen.append(id)
            return []
        }
        let healthy = Self.worker(cluster, config: config, group: "g-ok", topics: ["in"], producer: producer) { m in
            okSeen.append(m.headers.text("ce_id") ?? "?")
            return []
        }
        let running = RunningWorkers([failing, healthy])
        var poisonReport: KafkaDeliveryReport? = nil
        for i in 0..<20 {
            let id = i == 5 ? "poison" : "m\(i)"
            let r = try await producer.send(record("in", key: "same-case", id: id))
            if id == "poison" { poisonReport = r }
        }
        // Everything after the poison message, same key and partition, still flows.
        try await eventually("19 healthy messages in g-fail") { failSeen.count == 19 }
        try await eventually("20 messages in g-ok") { okSeen.count == 20 }
        #expect(failSeen.all == (0..<20).filter { $0 != 5 }.map { "m\($0)" })

        let store = DeadLetterStore(config: config, bootstrap: cluster.bootstrapServers, group: "g-fail")
        var letters: [DeadLetterStore.Letter] = []
        try await eventually("a dead letter") {
            letters = try await store.load()
            return letters.count == 1
        }
        let h = letters[0].message.headers
        #expect(letters[0].eventId == "poison")
        #expect(letters[0].message.keyText == "same-case")
        #expect(h.text(DeadLetterHeader.topic) == "in")
        #expect(h.text(DeadLetterHeader.partition) == String(poisonReport!.partition))
        #expect(h.text(DeadLetterHeader.offset) == String(poisonReport!.offset))
        #expect(h.text(DeadLetterHeader.group) == "g-fail")
        #expect(h.text(DeadLetterHeader.attempts) == "3")
        #expect(h.text(DeadLetterHeader.error)?.contains("TransientFailure") == true)
        #expect((try? Date(h.text(DeadLetterHeader.firstFailure) ?? "", strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))) != nil)
        #expect(try await DeadLetterStore(config: config, bootstrap: cluster.bootstrapServers, group: "g-ok").load().isEmpty)

        healed.store(true, ordering: .relaxed)
        #expect(try await store.replay(letters) == 1)
        try await eventually("the replayed message in g-fail") { failSeen.all.contains("poison") }
        // Replaying again does nothing: the letter is marked replayed.
        let again = try await store.load()
        #expect(again.count == 1 && again[0].replayed)
        #expect(try await store.replay(again.filter { !$0.replayed }) == 0)
        try await running.stop()
        #expect(failSeen.all.filter { $0 == "poison" }.count == 1)
        #expect(okSeen.all.filter { $0 == "poison" }.count == 1, "the other group never sees the replay")
        await producer.close()
        await cluster.shutdown()
    }

    @Test("two members split the partitions; one leaving mid-stream hands over without loss")
    func twoMembersHandOver() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-pair"], topics: ["pair"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let seen = Recorder<(member: String, partition: Int32, key: String, seq: Int)>()
        func member(_ name: String) -> KafkaWorker {
            Self.worker(cluster, config: config, group: "g-pair", topics: ["pair"], producer: producer) { m in
                let seq = Int(String(decoding: m.value ?? [], as: UTF8.self)) ?? -1
                seen.append((name, m.partition, m.keyText ?? "", seq))
                return []
            }
        }
        let a = RunningWorkers([member("A")])
        let b = RunningWorkers([member("B")])
        let keys = (0..<60).map { "case-\($0)" }
        let bothWorking: @Sendable () -> Bool = {
            let s = seen.all
            return s.contains { $0.member == "A" } && s.contains { $0.member == "B" }
        }
        // Rounds go on until both members work (the joins and the rebalance take seconds on the
        // embedded broker, longer on a loaded machine), then 40 more, so A leaves mid-stream.
        let sender = Task { () -> Int in
            var rounds = 0
            var after = 40
            while after > 0 && rounds < 1_000 {
                for k in keys { try await producer.enqueue(record("pair", key: k, id: "\(k)-\(rounds)", String(rounds))) }
                rounds += 1
                if bothWorking() { after -= 1 }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await producer.flush()
            return rounds
        }
        defer { sender.cancel() }  // if the test fails before the stream ends
        try await eventually("both members working", timeout: .seconds(60)) { bothWorking() }
        let before = seen.all
        let aParts = Set(before.filter { $0.member == "A" }.map(\.partition))
        let bParts = Set(before.filter { $0.member == "B" }.map(\.partition))
        #expect(aParts.isDisjoint(with: bParts), "partitions are split between the members")
        try await a.stop()
        let rounds = try await sender.value
        let total = keys.count * rounds
        try await eventually("every message processed after the handover", timeout: .seconds(60)) {
            Set(seen.all.map { "\($0.key)-\($0.seq)" }).count == total
        }
        try await b.stop()
        let all = seen.all
        #expect(Set(all.map { "\($0.key)-\($0.seq)" }).count == total)
        // Per key, first processings come in order.
        for k in keys {
            var firsts: [Int] = []
            var s = Set<Int>()
            for e in all where e.key == k && !s.contains(e.seq) { s.insert(e.seq); firsts.append(e.seq) }
            #expect(firsts == Array(0..<rounds), "order of \(k)")
        }
        await producer.close()
        await cluster.shutdown()
    }

    @Test("the broker going down for a few seconds mid-stream loses nothing")
    func brokerOutage() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-out"], topics: ["out"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let seen = Recorder<String>()
        let w = Self.worker(cluster, config: config, group: "g-out", topics: ["out"], producer: producer) { m in
            seen.append(m.headers.text("ce_id") ?? "?")
            return []
        }
        let running = RunningWorkers([w])
        _ = try await producer.send(record("out", key: "warm-up", id: "warm-up"))
        try await eventually("the group has joined") { seen.count == 1 }
        let total = 3000
        let delivered = Recorder<Bool>()
        let sender = Task {
            for i in 0..<total {
                try await producer.enqueue(record("out", key: "k\(i % 50)", id: "e\(i)")) { r in
                    if case .success = r { delivered.append(true) }
                }
                if i % 50 == 49 { try await Task.sleep(for: .milliseconds(50)) }  // about 1,000/s
            }
        }
        try await eventually("the stream is flowing") { seen.count >= 500 }
        try cluster.setBrokerDown(1)
        try await Task.sleep(for: .seconds(3))  // the outage itself
        let duringOutage = seen.count
        try cluster.setBrokerUp(1)
        try await sender.value
        try await eventually("every message delivered", timeout: .seconds(60)) { delivered.count == total }
        try await eventually("every message consumed", timeout: .seconds(60)) { Set(seen.all).count == total + 1 }
        #expect(duringOutage < total, "the outage happened mid-stream")
        #expect(Set(seen.all) == Set((0..<total).map { "e\($0)" } + ["warm-up"]))
        try await running.stop()
        await producer.close()
        await cluster.shutdown()
    }

    @Test("an output the broker does not acknowledge is sent again, with its key, value and headers, until it is")
    func undeliveredOutputIsSentAgain() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-resend"], topics: ["src", "dst"])
        let source = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "src"), logger: testLogger())
        var outputConfig = config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "out")
        outputConfig.messageTimeoutMs = 500  // outputs fail fast while the broker is down
        let output = try KafkaProducer(configuration: outputConfig, logger: testLogger())
        let captured = CapturedLog()
        let gate = OneShot<Void>()
        let waiting = Recorder<String>()
        let w = Self.worker(cluster, config: config, group: "g-resend", topics: ["src"], producer: output, logger: captured.logger("g-resend")) { m in
            let id = m.headers.text("ce_id") ?? "?"
            if id != "warm-up" {
                waiting.append(id)
                await gate.value
            }
            return [KafkaRecord(topic: "dst", key: m.key, value: m.value, headers: [KafkaHeader("ce_id", id), KafkaHeader(name: "bin", value: [0, 255, 7])])]
        }
        let running = RunningWorkers([w])
        let sink = try KafkaConsumer(configuration: config.consumerConfiguration(bootstrap: cluster.bootstrapServers, group: "g-sink", role: "sink"), logger: testLogger())
        try sink.subscribe(["dst"])
        let arrived = Recorder<KafkaConsumerMessage>()
        let sinkTask = Task {
            while true {
                let batch = await sink.nextBatch(max: 100)
                if batch.isEmpty { return }
                for m in batch { arrived.append(m); sink.markDone(m) }
            }
        }
        _ = try await source.send(record("src", key: "warm-up", id: "warm-up"))
        try await eventually("the warm-up output arrived") { arrived.count == 1 }
        let total = 20
        _ = try await source.sendAll((0..<total).map { record("src", key: "k\($0)", id: "e\($0)", "{\"n\":\($0)}") })
        try await eventually("the worker holds messages it has not produced for yet") { waiting.count > 0 }
        try cluster.setBrokerDown(1)
        gate.fulfill(())
        try await eventually("an output timed out and was sent again") {
            captured.entries.contains { $0.message.contains("record not acknowledged; sending it again") }
        }
        try cluster.setBrokerUp(1)
        try await eventually("every output arrived", timeout: .seconds(60)) { Set(arrived.all.compactMap { $0.headers.text("ce_id") }).count == total + 1 }
        for i in 0..<total {
            let copies = arrived.all.filter { $0.headers.text("ce_id") == "e\(i)" }
            #expect(!copies.isEmpty && copies.allSatisfy {
                $0.keyText == "k\(i)" && $0.value == Array("{\"n\":\(i)}".utf8) && $0.headers.first { $0.name == "bin" }?.value == [0, 255, 7]
            }, "e\(i) arrived whole")
        }
        try await running.stop()
        await sink.close()
        _ = await sinkTask.value
        await output.close()
        await source.close()
        await cluster.shutdown()
    }

    @Test("a failing key is retried without blocking other keys")
    func retriesDoNotBlockOtherKeys() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-keys"], topics: ["keys"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let attempts = Mutex<Int>(0)
        let seen = Recorder<String>()
        let w = Self.worker(cluster, config: config, group: "g-keys", topics: ["keys"], producer: producer, backoff: .milliseconds(300)) { m in
            let id = m.headers.text("ce_id")!
            if id == "slow-0" {
                let n = attempts.withLock { a in a += 1; return a }
                if n < 3 { throw TransientFailure() }  // succeeds on the third attempt
            }
            seen.append(id)
            return []
        }
        let running = RunningWorkers([w])
        _ = try await producer.sendAll([
            record("keys", key: "slow", id: "slow-0"), record("keys", key: "slow", id: "slow-1"),
        ] + (0..<20).map { record("keys", key: "fast-\($0)", id: "fast-\($0)") })
        try await eventually("all processed") { seen.count == 22 }
        let order = seen.all
        #expect(order.firstIndex(of: "slow-0")! < order.firstIndex(of: "slow-1")!, "per-key order survives retries")
        #expect(order.firstIndex(of: "fast-19")! < order.firstIndex(of: "slow-0")!, "other keys ran while slow-0 was backing off")
        #expect(attempts.withLock { $0 } == 3)
        try await running.stop()
        await producer.close()
        await cluster.shutdown()
    }

    @Test("messages of one key run one at a time and in order, while different keys run side by side")
    func perKeyOrderUnderConcurrency() async throws {
        let config = try testConfiguration()
        let cluster = try Self.cluster(groups: ["g-order"], topics: ["order"])
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "t"), logger: testLogger())
        let keys = 12, perKey = 150
        let running = Mutex<[String: Int]>([:])
        let overlaps = Mutex<[String]>([])
        let mostAtOnce = Mutex(0)
        let seen = Recorder<(String, Int)>()
        let w = Self.worker(cluster, config: config, group: "g-order", topics: ["order"], producer: producer) { m in
            let key = m.keyText!
            let seq = Int(String(decoding: m.value!, as: UTF8.self))!
            let (mine, all) = running.withLock { r -> (Int, Int) in
                r[key, default: 0] += 1
                return (r[key]!, r.values.reduce(0, +))
            }
            if mine > 1 { overlaps.withLock { $0.append("\(key)#\(seq)") } }
            mostAtOnce.withLock { $0 = max($0, all) }
            for _ in 0..<3 { await Task.yield() }  // let other handler tasks interleave
            seen.append((key, seq))
            running.withLock { $0[key]! -= 1 }
            return []
        }
        let runningWorkers = RunningWorkers([w])
        var records: [KafkaRecord] = []
        for seq in 0..<perKey {
            for k in 0..<keys { records.append(KafkaRecord(topic: "order", key: "case-\(k)", value: Array("\(seq)".utf8))) }
        }
        _ = try await producer.sendAll(records)
        try await eventually("all \(keys * perKey) handled") { seen.count == keys * perKey }
        var byKey: [String: [Int]] = [:]
        for (k, seq) in seen.all { byKey[k, default: []].append(seq) }
        for k in 0..<keys { #expect(byKey["case-\(k)"] == Array(0..<perKey), "order of case-\(k)") }
        #expect(overlaps.withLock { $0 }.isEmpty, "a key never ran twice at once")
        #expect(mostAtOnce.withLock { $0 } > 1, "different keys ran side by side")
        try await runningWorkers.stop()
        await producer.close()
        await cluster.shutdown()
    }
}

