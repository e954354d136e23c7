import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import ZhifaKafka
import ZhifaRuntime

/// `zhifa bench kafka`: produce throughput, a consume→produce relay through the worker runtime,
/// and end-to-end latency at a fixed rate, on the embedded broker, with the C baseline's settings.
public enum KafkaBench {
    /// Settings; defaults match `relay -b 3 -f 10 -l 5 -n 100000 -P 24`.
    public struct Options: Sendable {
        public var brokers = 3
        public var messages = 100_000
        public var partitions = 24
        public var payloadBytes = 730
        public var lingerMs = 5
        public var fetchWaitMaxMs = 10
        public var rate = 1_000
        public var latencyMessages = 5_000
        public init() {}

        /// The same settings as flags of the C baseline's `relay`.
        public var baselineArguments: [String] {
            ["-b", "\(brokers)", "-f", "\(fetchWaitMaxMs)", "-l", "\(lingerMs)", "-n", "\(messages)", "-P", "\(partitions)",
             "-s", "\(payloadBytes)", "-r", "\(rate)", "-m", "\(latencyMessages)", "-T", "zhifa-bench-same-sitting"]
        }
    }

    /// The measured numbers.
    public struct Result: Sendable {
        public var produceMsgsPerS: Double
        public var relayMsgsPerS: Double
        public var p50Ms: Double
        public var p99Ms: Double
        public var received: Int
        public var peakRSSMB: Double
    }

    /// Runs the three phases.
    public static func run(_ o: Options, config: ZhifaConfiguration, log: @escaping @Sendable (String) -> Void) async throws -> Result {
        var logger = Logger(label: "zhifa.bench")
        logger.logLevel = .warning
        let cluster = try EmbeddedKafkaCluster(brokers: o.brokers, logger: logger)
        for t in ["in", "out", "relay.dlq", "relay.retry"] { try cluster.createTopic(t, partitions: Int32(o.partitions), replicationFactor: 1) }
        var pc = KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "bench"))
        pc.lingerMs = o.lingerMs
        let source = try KafkaProducer(configuration: pc, logger: logger)
        let payload = BenchSupport.Payload(size: o.payloadBytes)

        // [A] produce
        let admin = try KafkaAdmin(client: pc.client, logger: logger)
        _ = try await admin.partitionCount("in")
        _ = try await admin.partitionCount("out")
        await admin.close()
        let a0 = BenchSupport.nowNs()
        // One record rewritten in place per message, as the C baseline reuses one buffer: librdkafka
        // copies key and value, so the arrays are unshared again when the next message is written.
        var record = KafkaRecord(topic: "in", key: Array("case-".utf8), value: payload.template)
        for i in 0..<o.messages {
            record.key!.removeSubrange(5...)
            record.key!.append(contentsOf: String(i).utf8)
            payload.stamp(&record.value!, BenchSupport.nowNs())
            try await source.enqueue(record)
        }
        try await source.flush(timeout: .seconds(120))
        let produceRate = Double(o.messages) / (Double(BenchSupport.nowNs() - a0) / 1e9)
        log(String(format: "[A] produced %d msgs: %.0f msgs/s", o.messages, produceRate))

        // Diagnostic phases: ZHIFA_BENCH_DIAG="B0,B1" adds the consumer alone (B0) and a relay with the
        // Kafka layer alone (B1); ZHIFA_BENCH_DIAG_ONLY=1 stops after them.
        let diag = Set((ProcessInfo.processInfo.environment["ZHIFA_BENCH_DIAG"] ?? "").split(separator: ",").map(String.init))
        var dc = KafkaConsumerConfiguration(client: pc.client, groupId: "consume-only")
        dc.fetchWaitMaxMs = o.fetchWaitMaxMs
        dc.bufferCapacity = config.worker.bufferCapacity
        if diag.contains("B0") {
        let plain = try KafkaConsumer(configuration: dc, logger: logger)
        try plain.subscribe(["in"])
        var consumed = 0
        var c0: Int64 = 0
        var cpuB0 = 0.0
        while consumed < o.messages {
            let batch = await plain.nextBatch(max: 512)
            if batch.isEmpty { break }
            if c0 == 0 { c0 = BenchSupport.nowNs(); cpuB0 = BenchSupport.cpuSeconds() }
            for m in batch { plain.markDone(m) }
            consumed += batch.count
        }
        let b0s = Double(BenchSupport.nowNs() - c0) / 1e9
        let consumeRate = Double(consumed) / b0s
        let b0cpu = BenchSupport.cpuSeconds() - cpuB0
        await plain.close()
        log(String(format: "[B0] consumed %d msgs (consumer alone, done-marks included): %.0f msgs/s, %.1f µs CPU/msg", consumed, consumeRate, b0cpu / Double(consumed) * 1e6))
        }

        // [B1] relay with the Kafka layer alone (diagnostic: no worker runtime)
        if diag.contains("B1") {
            let rawProducer = try KafkaProducer(configuration: pc, logger: logger)
            let raw = try KafkaConsumer(configuration: { var c = dc; c.groupId = "raw-relay"; return c }(), logger: logger)
            try raw.subscribe(["in"])
            var relayed = 0
            var r0: Int64 = 0
            var cpuB1 = 0.0
            var threadsB1 = ThreadCPU.snapshot()
            while relayed < o.messages {
                let batch = await raw.nextBatch(max: 512)
                if batch.isEmpty { break }
                if r0 == 0 { r0 = BenchSupport.nowNs(); cpuB1 = BenchSupport.cpuSeconds(); threadsB1 = ThreadCPU.snapshot() }
                for m in batch {
                    try await rawProducer.enqueue(KafkaRecord(topic: "out", key: m.key, value: m.value)) { _ in raw.markDone(m) }
                }
                relayed += batch.count
            }
            try await rawProducer.flush(timeout: .seconds(60))
            log(String(format: "[B1] relayed %d msgs with the Kafka layer alone: %.0f msgs/s, %.1f µs CPU/msg", relayed, Double(relayed) / (Double(BenchSupport.nowNs() - r0) / 1e9), (BenchSupport.cpuSeconds() - cpuB1) / Double(relayed) * 1e6))
            let threadsB1End = ThreadCPU.snapshot()
            log("[B1] CPU per message by thread, µs: " + ThreadCPU.perMessage(from: threadsB1, to: threadsB1End, messages: relayed))
            log("[B1] waiting for a CPU per message, µs: " + ThreadCPU.scheduling(from: threadsB1, to: threadsB1End, messages: relayed))
            await raw.close()
            await rawProducer.close()
        }

        if ProcessInfo.processInfo.environment["ZHIFA_BENCH_DIAG_ONLY"] == "1" {
            await source.close()
            await cluster.shutdown()
            return Result(produceMsgsPerS: produceRate, relayMsgsPerS: 0, p50Ms: 0, p99Ms: 0, received: 0, peakRSSMB: BenchSupport.peakRSSMB())
        }

        // [B] relay through the worker runtime
        let relayProducer = try KafkaProducer(configuration: pc, logger: logger)
        let firstNs = Atomic<Int64>(0)
        let handled = Atomic<Int>(0)
        let allHandled = OneShot<Void>()
        let started = OneShot<Void>()
        let target = o.messages
        var settings = config.worker
        settings.shutdownDeadline = .seconds(30)
        var cc = KafkaConsumerConfiguration(client: pc.client, groupId: "relay")
        cc.fetchWaitMaxMs = o.fetchWaitMaxMs
        cc.bufferCapacity = settings.bufferCapacity
        let registry = PrometheusCollectorRegistry()
        let worker = KafkaWorker(
            group: "relay", topics: ["in"], settings: settings, consumer: cc, producer: relayProducer,
            metricsFactory: PrometheusMetricsFactory(registry: registry), logger: logger
        ) { m in
            let n = handled.wrappingAdd(1, ordering: .relaxed).newValue
            if n == 1 {
                firstNs.store(BenchSupport.nowNs(), ordering: .relaxed)
                started.fulfill(())
            }
            if n == target { allHandled.fulfill(()) }
            return [KafkaRecord(topic: "out", key: m.key, value: m.value)]
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: worker)], logger: logger))
        let groupTask = Task { try await group.run() }
        await started.value  // the first handler call starts the clock; CPU is sampled from then
        let cpu0 = BenchSupport.cpuSeconds()
        let threads0 = ThreadCPU.snapshot()
        await allHandled.value
        try await relayProducer.flush(timeout: .seconds(120))
        let relaySeconds = Double(BenchSupport.nowNs() - firstNs.load(ordering: .relaxed)) / 1e9
        let relayRate = Double(o.messages) / relaySeconds
        log(String(format: "[B] relayed %d msgs through the worker runtime: %.0f msgs/s (%.1f µs CPU/msg, process CPU %.0f%% of one core)", o.messages, relayRate, (BenchSupport.cpuSeconds() - cpu0) / Double(o.messages) * 1e6, 100 * (BenchSupport.cpuSeconds() - cpu0) / relaySeconds))
        let threads1 = ThreadCPU.snapshot()
        log("[B] CPU per message by thread, µs: " + ThreadCPU.perMessage(from: threads0, to: threads1, messages: o.messages))
        log("[B] waiting for a CPU per message, µs: " + ThreadCPU.scheduling(from: threads0, to: threads1, messages: o.messages))

        // [C] latency at a fixed rate, relay still running
        var sc = KafkaConsumerConfiguration(client: pc.client, groupId: "bench-sink-\(UUID().uuidString)")
        sc.autoCommit = false
        sc.fetchWaitMaxMs = o.fetchWaitMaxMs
        let sink = try KafkaConsumer(configuration: sc, logger: logger)
        // The sink starts at each partition's current end, read as an explicit offset (nothing else
        // writes to "out" now), so a record relayed from here on cannot slip past it.
        let watermarks = try KafkaAdmin(client: pc.client, logger: logger)
        var starts: [KafkaPartitionStart] = []
        for p in 0..<o.partitions {
            let tp = KafkaTopicPartition(topic: "out", partition: Int32(p))
            starts.append(KafkaPartitionStart(tp, offset: try await watermarks.watermarks(tp).high))
        }
        await watermarks.close()
        try sink.assign(starts)
        let m = o.latencyMessages
        let sinkLive = OneShot<Void>()
        let sinkTask = Task { () -> [Double] in
            var lat: [Double] = []
            lat.reserveCapacity(m)
            while lat.count < m {
                let batch = await sink.nextBatch(max: 512)
                if batch.isEmpty { break }
                let now = BenchSupport.nowNs()
                for msg in batch {
                    guard let s = msg.value.flatMap(payload.stamp(of:)) else { continue }
                    if s > 0 { lat.append(Double(now - s) / 1e6) } else { sinkLive.fulfill(()) }
                }
            }
            sinkLive.fulfill(())
            return lat
        }
        // Where the baseline sleeps 1 s for its sink's fetchers, wait until a warm-up record
        // (stamp 0, not measured) has gone through the relay to the sink.
        try await source.enqueue(KafkaRecord(topic: "in", key: "warm-up", value: payload.stamped(0)))
        let warmUpLimit = BenchSupport.deadline(.seconds(30), cancelling: sinkTask)
        await sinkLive.value
        warmUpLimit.cancel()
        guard !sinkTask.isCancelled else { throw BenchError("no warm-up record reached the latency sink within 30 s") }
        let rate = o.rate
        let base = o.messages
        await DedicatedThread.run(name: "zk:bench-pace") {
            let interval = 1_000_000_000 / Int64(max(rate, 1))
            let t0 = BenchSupport.nowNs() + 1_000_000
            for i in 0..<m {
                BenchSupport.sleepUntil(ns: t0 + Int64(i) * interval)
                try? source.enqueueNow(KafkaRecord(topic: "in", key: "case-\(base + i)", value: payload.stamped(BenchSupport.nowNs())))
            }
        }
        let receiveLimit = BenchSupport.deadline(.seconds(15), cancelling: sinkTask)
        var latencies = await sinkTask.value
        receiveLimit.cancel()
        latencies.sort()
        let p50 = BenchSupport.percentile(latencies, 0.50)
        let p99 = BenchSupport.percentile(latencies, 0.99)
        log(String(format: "[C] e2e produce→relay→consume at %d msg/s: received %d/%d, p50 %.2f ms, p99 %.2f ms", o.rate, latencies.count, m, p50, p99))
        await sink.close()
        await group.triggerGracefulShutdown()
        try await groupTask.value
        await relayProducer.close()
        await source.close()
        await cluster.shutdown()
        return Result(produceMsgsPerS: produceRate, relayMsgsPerS: relayRate, p50Ms: p50, p99Ms: p99, received: latencies.count, peakRSSMB: BenchSupport.peakRSSMB())
    }
}
