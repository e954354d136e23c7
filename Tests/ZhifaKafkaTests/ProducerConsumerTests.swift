import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
@testable import ZhifaKafka

@Suite("Producer and consumer against the embedded broker")
struct ProducerConsumerTests {
    @Test("round trip keeps key, value and headers")
    func roundTrip() async throws {
        try await withEmbeddedCluster(topics: ["rt": 3]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let report = try await producer.send(KafkaRecord(
                topic: "rt", key: "case-1", value: Array("{\"a\":1}".utf8),
                headers: [KafkaHeader("ce_id", "evt-1"), KafkaHeader(name: "null-header", value: nil)]))
            #expect(report.topic == "rt")
            #expect(report.offset >= 0)

            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "rt-g"), logger: testLogger())
            try consumer.subscribe(["rt"])
            let got = try await collect(consumer, count: 1)
            #expect(got.count == 1)
            let m = try #require(got.first)
            #expect(m.keyText == "case-1")
            #expect(m.value == Array("{\"a\":1}".utf8))
            #expect(m.headers.text("ce_id") == "evt-1")
            #expect(m.headers.contains { $0.name == "null-header" && $0.value == nil })
            #expect(m.partition == report.partition)
            #expect(m.offset == report.offset)
            #expect(m.timestamp != nil)
            await consumer.close()
            await producer.close()
        }
    }

    @Test("a wait with a deadline returns a message that arrives before it, and ends empty once it has passed")
    func waitWithDeadline() async throws {
        try await withEmbeddedCluster(topics: ["dl": 1]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let report = try await producer.send(KafkaRecord(topic: "dl", key: "k", value: Array("x".utf8)))
            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "dl-g"), logger: testLogger())
            try consumer.assign([KafkaPartitionStart(KafkaTopicPartition(topic: "dl", partition: 0), offset: report.offset)])
            // Generous, so a slow machine still sees the message first.
            let first = await consumer.nextBatch(max: 10, until: .now + .seconds(60))
            #expect(first.map(\.offset) == [report.offset])
            // Nothing more arrives: the poll thread ends the wait at the deadline, not before.
            let deadline = ContinuousClock.now + .milliseconds(300)
            let none = await consumer.nextBatch(max: 10, until: deadline)
            #expect(none.isEmpty)
            #expect(ContinuousClock.now >= deadline, "the wait ended before its deadline")
            // A deadline already past returns at once, empty, and the consumer still works after it.
            #expect(await consumer.nextBatch(max: 10, until: .now - .seconds(1)).isEmpty)
            let second = try await producer.send(KafkaRecord(topic: "dl", key: "k", value: Array("y".utf8)))
            let next = await consumer.nextBatch(max: 10, until: .now + .seconds(60))
            #expect(next.map(\.offset) == [second.offset])
            await consumer.close()
            await producer.close()
        }
    }

    @Test("messages of one key keep their order across 6 partitions")
    func orderingPerKey() async throws {
        try await withEmbeddedCluster(topics: ["ord": 6]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let keys = (0..<40).map { "case-\($0)" }
            let perKey = 50
            for i in 0..<perKey {
                for k in keys {
                    try await producer.enqueue(KafkaRecord(topic: "ord", key: k, value: Array("\(i)".utf8)))
                }
            }
            try await producer.flush()
            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "ord-g"), logger: testLogger())
            try consumer.subscribe(["ord"])
            let got = try await collect(consumer, count: keys.count * perKey)
            #expect(got.count == keys.count * perKey)
            var seen: [String: [Int]] = [:]
            var partitionOfKey: [String: Int32] = [:]
            for m in got {
                let k = try #require(m.keyText)
                seen[k, default: []].append(Int(String(decoding: m.value!, as: UTF8.self))!)
                if let p = partitionOfKey[k] { #expect(p == m.partition) } else { partitionOfKey[k] = m.partition }
            }
            for k in keys { #expect(seen[k] == Array(0..<perKey), "order of \(k)") }
            #expect(Set(partitionOfKey.values).count > 1, "keys spread over partitions")
            await consumer.close()
            await producer.close()
        }
    }
}

@Suite("Backpressure")
struct BackpressureTests {
    @Test("a producer faster than the broker waits and drops nothing")
    func producerWaits() async throws {
        try await withEmbeddedCluster(topics: ["bp": 2]) { cluster in
            try cluster.setRoundTripTime(broker: 1, milliseconds: 20)
            var config = producerConfig(cluster)
            config.queueBufferingMaxMessages = 50
            config.lingerMs = 0
            let producer = try KafkaProducer(configuration: config, logger: testLogger())
            let total = 3_000
            let ok = Counter()
            let failed = Counter()
            for i in 0..<total {
                try await producer.enqueue(KafkaRecord(topic: "bp", key: "k\(i % 10)", value: Array("\(i)".utf8))) { r in
                    switch r {
                    case .success: ok.increment()
                    case .failure: failed.increment()
                    }
                }
            }
            try await producer.flush()
            #expect(ok.value == total)
            #expect(failed.value == 0)
            #expect(producer.backpressureWaits > 0, "the local queue filled up and the caller waited")
            let consumer = try KafkaConsumer(configuration: consumerConfig(cluster, group: "bp-g"), logger: testLogger())
            try consumer.subscribe(["bp"])
            let got = try await collect(consumer, count: total)
            #expect(Set(got.compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } }).count == total)
            await consumer.close()
            await producer.close()
        }
    }
}

final class Counter: Sendable {
    private let v = Mutex(0)
    func increment() { v.withLock { $0 += 1 } }
    var value: Int { v.withLock { $0 } }
}

@Suite("Delivery reports finished in batches")
struct DeliveryBatchTests {
    /// Collects acknowledged offsets from listeners and finishes them when the producer says the batch was served.
    final class BatchFinisher: KafkaDeliveryBatchObserver, @unchecked Sendable {
        let expected: Int
        let producer: Mutex<KafkaProducer?> = Mutex(nil)
        let pending = Mutex<[Int64]>([])
        let finished = Mutex<[Int64]>([])
        let calls = Mutex(0)
        /// Yields once all expected acknowledgements are finished (a stream: waiting on it can be cancelled).
        let allFinished = AsyncStream<Void>.makeStream()

        init(expected: Int) { self.expected = expected }

        func acknowledged(_ offset: Int64) {
            pending.withLock { $0.append(offset) }
            producer.withLock { $0 }?.notifyAfterServing(self)
        }

        func deliveriesServed() {
            let batch = pending.withLock { p in defer { p.removeAll() }; return p }
            calls.withLock { $0 += 1 }
            let total = finished.withLock { $0 += batch; return $0.count }
            if total == expected { allFinished.continuation.yield(()) }
        }
    }

    final class Listener: KafkaDeliveryListener, @unchecked Sendable {
        let finisher: BatchFinisher
        init(_ finisher: BatchFinisher) { self.finisher = finisher }
        override func delivered(partition: Int32, offset: Int64, error: KafkaError?) {
            if error == nil { finisher.acknowledged(offset) }
        }
    }

    @Test("every acknowledged record reaches its observer once, in far fewer calls than records")
    func batchedFinish() async throws {
        try await withEmbeddedCluster(topics: ["batched": 1]) { cluster in
            let producer = try KafkaProducer(configuration: producerConfig(cluster), logger: testLogger())
            let total = 2_000
            let finisher = BatchFinisher(expected: total)
            finisher.producer.withLock { $0 = producer }
            for i in 0..<total {
                try await producer.enqueue(KafkaRecord(topic: "batched", key: "k", value: Array("\(i)".utf8)), listener: Listener(finisher))
            }
            try await producer.flush()
            let arrived = await withTaskGroup(of: Bool.self) { g in
                g.addTask { var it = finisher.allFinished.stream.makeAsyncIterator(); return await it.next() != nil }
                g.addTask { try? await Task.sleep(for: .seconds(30)); return false }
                let first = await g.next()!
                g.cancelAll()
                return first
            }
            #expect(arrived, "all \(total) acknowledgements finished by the observer")
            let offsets = finisher.finished.withLock { $0 }
            #expect(offsets.count == total)
            #expect(Set(offsets).count == total && offsets.min() == 0 && offsets.max() == Int64(total - 1), "each offset 0..<\(total) once")
            #expect(finisher.pending.withLock { $0.isEmpty })
            let calls = finisher.calls.withLock { $0 }
            #expect(calls >= 1 && calls < total / 2, "finished per batch, not per record (\(calls) calls)")
            finisher.producer.withLock { $0 = nil }
            await producer.close()
        }
    }
}

@Suite("Fire-and-forget records")
struct FireAndForgetTests {
    final class FailureListener: KafkaDeliveryListener, @unchecked Sendable {
        let failures = Mutex<[(record: KafkaRecord, error: KafkaError)]>([])
        override func failed(_ record: KafkaRecord, error: KafkaError) {
            failures.withLock { $0.append((record, error)) }
        }
    }

    @Test("an undelivered record comes back to its listener rebuilt from librdkafka's copy: topic, key, value, headers, partition")
    func undeliveredRecordComesBack() async throws {
        try await withEmbeddedCluster(topics: ["back": 2]) { cluster in
            var config = producerConfig(cluster)
            config.messageTimeoutMs = 300
            let producer = try KafkaProducer(configuration: config, logger: testLogger())
            _ = try await producer.send(KafkaRecord(topic: "back", key: "warm-up", value: Array("w".utf8)))
            try cluster.setBrokerDown(1)
            let sent = KafkaRecord(
                topic: "back", key: Array("case-1".utf8), value: [1, 2, 3, 0, 255],
                headers: [KafkaHeader("ce_id", "e-1"), KafkaHeader(name: "none", value: nil), KafkaHeader(name: "bin", value: [0, 9])],
                partition: 1)
            let listener = FailureListener()
            try await producer.enqueue(sent, listener: listener)
            try await producer.flush(timeout: .seconds(20))
            try await eventually("the failure reached the listener") { listener.failures.withLock { $0.count } == 1 }
            let (back, error) = listener.failures.withLock { $0[0] }
            #expect(back.topic == sent.topic && back.key == sent.key && back.value == sent.value)
            #expect(back.headers == sent.headers)
            #expect(back.partition == 1)
            #expect(error.code == .delivery)
            try cluster.setBrokerUp(1)
            await producer.close()
        }
    }

    @Test("an undelivered record without a delivery handler is logged, 1st and 10th, with no record bytes")
    func undeliveredIsLogged() async throws {
        try await withEmbeddedCluster(topics: ["ff": 1]) { cluster in
            let captured = CapturedLog()
            var logger = Logger(label: "ff") { _ in captured }
            logger.logLevel = .warning
            var config = producerConfig(cluster)
            config.messageTimeoutMs = 300
            let producer = try KafkaProducer(configuration: config, logger: logger)
            _ = try await producer.send(KafkaRecord(topic: "ff", key: "case-0", value: Array("warm-up".utf8)))
            try cluster.setBrokerDown(1)
            for i in 0..<12 {
                try await producer.enqueue(KafkaRecord(topic: "ff", key: "case-\(i)", value: Array("secret-\(i)".utf8)))
            }
            try await producer.flush(timeout: .seconds(20))  // returns once every record is delivered or failed
            let lines = captured.entries.filter { $0.message.contains("without a delivery handler") }
            #expect(lines.map { $0.metadata["undeliveredSoFar"] } == ["1", "10"])
            #expect(lines.allSatisfy { $0.metadata["topic"] == "ff" && $0.metadata["error"]?.hasPrefix("_") == true })
            #expect(!captured.entries.contains { $0.message.contains("secret") || $0.metadata.values.contains { $0.contains("secret") } })
            try cluster.setBrokerUp(1)
            await producer.close()
        }
    }
}
