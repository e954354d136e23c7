import Foundation
import Logging
import ServiceLifecycle
import ZhifaDomain
import ZhifaKafka
import ZhifaReview
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa bench review`: the simulator's mix through the review service on the embedded broker.
public enum ReviewBench {
    public struct Result: Sendable {
        public var events: Int
        public var eventsPerSecond: Double
        public var decisionsPerSecond: Double
        public var latencyP50Ms: Double
        public var latencyP99Ms: Double
        public var latencySamples: Int
        public var peakRSSMB: Double
    }

    public static func run(config base: ZhifaConfiguration, events: Int, rate: Int, log: @escaping @Sendable (String) -> Void) async throws -> Result {
        // The simulator's terminals issue major decisions at once, as a careless agency would, so the
        // review warns about each one (what it is for); the benchmark prints only errors.
        var logger = ServiceBench.quietLogger
        logger.logLevel = .error
        var config = base
        config.http.reviewPort = 0
        let cluster = try ServiceBench.cluster(config)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhifa-bench-review-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let traffic = try ServiceBench.traffic(config, events: events)
        let backlog = traffic.flatMap { $0.events.map(\.event) }
        try await ServiceBench.produce(backlog, bootstrap: cluster.bootstrapServers, topic: config.topics.events)
        log("[review] \(backlog.count) events of \(traffic.count) simulated cases on the topic")

        let context = ServiceContext(name: "review", config: config, bootstrap: cluster.bootstrapServers, dataDirectory: try DataDirectory(path: dir.path), logger: logger)
        let services = try await ReviewService.make(context: context)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        let processed = { ServiceBench.metric(context.metrics, "zhifa_review_events_processed_total") }
        let checked = { ServiceBench.metric(context.metrics, "zhifa_review_decisions_checked_total") }
        try await ServiceBench.until("the first reviewed event") { processed() > 0 }
        let t0 = ContinuousClock.now
        let c0 = checked()
        try await ServiceBench.until("all \(backlog.count) events reviewed") { processed() >= Double(backlog.count) }
        let seconds = Double((ContinuousClock.now - t0) / .microseconds(1)) / 1e6
        let eps = Double(backlog.count) / seconds
        let dps = (checked() - c0) / seconds
        let violations = ServiceBench.metric(context.metrics, "zhifa_review_violations_total")
        log(String(format: "[review] backlog consumed: %.0f events/s, %.0f decisions checked/s (all 16 checks); %.0f major decisions issued without approval reported as violations (the simulator's terminals do not wait for review)", eps, dps, violations))
        log("[review] mean time per event by stage (zhifa_review_stage_seconds): " + ReviewStage.allCases.map { stage -> String in
            let labels = "{stage=\"\(stage.rawValue)\"}"
            let sum = ServiceBench.metric(context.metrics, "zhifa_review_stage_seconds_sum" + labels)
            let count = ServiceBench.metric(context.metrics, "zhifa_review_stage_seconds_count" + labels)
            return String(format: "%@ %.2f ms", stage.rawValue, count > 0 ? 1000 * sum / count : 0)
        }.joined(separator: ", "))

        // Latency at a steady rate: decision.drafted produced → its findings on zhifa.review.v1.
        let book = LatencyBook()
        var sc = KafkaConsumerConfiguration(client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "bench-sink"), groupId: "bench-sink-\(UUID().uuidString)")
        sc.autoCommit = false
        sc.fetchWaitMaxMs = config.kafka.fetchWaitMaxMs
        let sink = try KafkaConsumer(configuration: sc, logger: logger)
        try sink.assign((0..<Int32(config.kafka.partitions)).map { KafkaPartitionStart(KafkaTopicPartition(topic: config.topics.review, partition: $0), offset: KafkaPartitionStart.end) })
        let sinkTask = Task {
            while true {
                let batch = await sink.nextBatch(max: 512)
                if batch.isEmpty { return }
                for m in batch where m.headers.text("ce_type") == ReviewEventType.findings.rawValue {
                    if let f = try? JSONDecoder().decode(ReviewFindingsEvent.self, from: Data(m.value ?? [])) { book.arrived(f.triggerEventId) }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let steady = try ServiceBench.traffic(config, events: rate * 10, seed: 99)
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "bench"), logger: logger)
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(max(rate, 1)))
        var next = ContinuousClock.now
        var drafts = 0
        for e in steady.flatMap({ $0.events.map(\.event) }) {
            next = next + interval
            if next > .now { try await Task.sleep(until: next, clock: .continuous) }
            if e.type == EventType.decisionDrafted.rawValue {
                book.sent(e.id)
                drafts += 1
            }
            try await producer.enqueue(CloudEventKafka.record(for: e, topic: config.topics.events))
        }
        try await producer.flush()
        try await ServiceBench.until("findings for every measured draft", .seconds(60)) { book.count >= drafts }
        let lat = book.sorted
        let p50 = BenchSupport.percentile(lat, 0.5), p99 = BenchSupport.percentile(lat, 0.99)
        log(String(format: "[review] at %d events/s: decision.drafted → findings p50 %.1f ms, p99 %.1f ms (%d drafts)", rate, p50, p99, lat.count))
        sinkTask.cancel()
        await sink.close()
        await producer.close()
        await group.triggerGracefulShutdown()
        try await task.value
        await cluster.shutdown()
        return Result(events: backlog.count, eventsPerSecond: eps, decisionsPerSecond: dps, latencyP50Ms: p50, latencyP99Ms: p99, latencySamples: lat.count, peakRSSMB: BenchSupport.peakRSSMB())
    }
}
