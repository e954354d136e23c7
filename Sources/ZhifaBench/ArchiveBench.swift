import Foundation
import Logging
import ServiceLifecycle
import ZhifaArchive
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// `zhifa bench archive`: a backlog of simulated events through the archive service (hash chain
/// and fsync on), then 四性 verify over what was stored.
public enum ArchiveBench {
    public struct Result: Sendable {
        public var events: Int
        public var eventsPerSecond: Double
        public var entries: Int64
        public var verifySeconds: Double
        public var verifySecondsPer100k: Double
        public var storeMB: Double
        public var peakRSSMB: Double
    }

    public static func run(config base: ZhifaConfiguration, events: Int, log: @escaping @Sendable (String) -> Void) async throws -> Result {
        let logger = ServiceBench.quietLogger
        var config = base
        config.http.archivePort = 0
        config.archive.headIntervalSeconds = 1
        let cluster = try ServiceBench.cluster(config)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhifa-bench-archive-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let traffic = try ServiceBench.traffic(config, events: events)
        let backlog = traffic.flatMap { $0.events.map(\.event) }
        try await ServiceBench.produce(backlog, bootstrap: cluster.bootstrapServers, topic: config.topics.events)
        let bytes = backlog.reduce(0) { $0 + $1.data.count }
        log("[archive] \(backlog.count) events of \(traffic.count) simulated cases on the topic (\(bytes / backlog.count) B of data each on average)")

        let dataDirectory = try DataDirectory(path: dir.path)
        let context = ServiceContext(name: "archive", config: config, bootstrap: cluster.bootstrapServers, dataDirectory: dataDirectory, logger: logger)
        let services = try await ArchiveService.make(context: context)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        let appended = { ServiceBench.metric(context.metrics, "zhifa_archive_entries_appended_total") }
        try await ServiceBench.until("the first archived entry") { appended() > 0 }
        let t0 = ContinuousClock.now
        let a0 = appended()
        let cpu0 = BenchSupport.cpuSeconds()
        let threads0 = ThreadCPU.snapshot()
        try await ServiceBench.until("all \(backlog.count) events archived", .seconds(600)) { appended() >= Double(backlog.count) }
        let seconds = Double((ContinuousClock.now - t0) / .microseconds(1)) / 1e6
        let counted = Int(appended() - a0)
        let eps = Double(counted) / seconds
        let threads1 = ThreadCPU.snapshot()
        log(String(format: "[archive] backlog archived: %.0f events/s (SHA-256 chain per partition, one fsync per batch of ≤ %d, receipt per event)", eps, config.archive.batchSize))
        log(String(format: "[archive] %.1f µs CPU per event, process CPU %.0f%% of one core", (BenchSupport.cpuSeconds() - cpu0) / Double(max(counted, 1)) * 1e6,
                   100 * (BenchSupport.cpuSeconds() - cpu0) / seconds))
        log("[archive] CPU per event by thread, µs: " + ThreadCPU.perMessage(from: threads0, to: threads1, messages: max(counted, 1)))
        await group.triggerGracefulShutdown()
        try await task.value
        await cluster.shutdown()

        // 四性 verify over everything stored, timed.
        let path = dataDirectory.path(config.archive.storeFile).path
        let store = try SQLiteArchiveStore(path: path)
        let entries = try await store.count()
        let v0 = ContinuousClock.now
        let report = try await store.verify(caseId: nil, now: Date())
        let verifySeconds = Double((ContinuousClock.now - v0) / .microseconds(1)) / 1e6
        await store.close()
        guard report.ok else { throw BenchError("verify failed on the benchmark's own archive: \(report.text)") }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 0) / 1_048_576
        log(String(format: "[archive] verify of %lld entries: %.2f s (%.2f s per 100,000), store %.0f MB", entries, verifySeconds, verifySeconds * 100_000 / Double(max(entries, 1)), size))
        return Result(events: backlog.count, eventsPerSecond: eps, entries: entries, verifySeconds: verifySeconds,
                      verifySecondsPer100k: verifySeconds * 100_000 / Double(max(entries, 1)), storeMB: size, peakRSSMB: BenchSupport.peakRSSMB())
    }
}
