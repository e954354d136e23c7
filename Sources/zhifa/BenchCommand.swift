import ArgumentParser
import Foundation
import ZhifaBench
import ZhifaRuntime

/// `zhifa bench …`: benchmarks.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks on the embedded broker (numbers, not tests).",
        subcommands: [BenchKafkaCommand.self, BenchIngestCommand.self, BenchReviewCommand.self, BenchPublicityCommand.self, BenchArchiveCommand.self,
                      BenchContractCommand.self])
}

/// Options every benchmark shares for comparing with the C baseline in the same sitting.
struct BaselineOption: ParsableArguments {
    @Option(help: "Folder of the C baseline (e.g. ../shared/bench/baseline): run it with the same settings right after, and print ratios.")
    var baseline: String?
}

/// `zhifa bench kafka`.
struct BenchKafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka",
        abstract: "Produce throughput, a relay through the worker runtime, and latency at a fixed rate.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var baselineOption: BaselineOption
    @Option(help: "Embedded brokers.") var brokers = 3
    @Option(help: "Messages for the throughput phases.") var messages = 100_000
    @Option(help: "Partitions per topic (the mock keeps 5 MiB per partition).") var partitions = 24
    @Option(name: .customLong("linger-ms")) var lingerMs = 5
    @Option(name: .customLong("fetch-wait-ms")) var fetchWaitMs = 10
    @Option(help: "Messages per second in the latency phase.") var rate = 1_000
    @Option(name: .customLong("latency-messages")) var latencyMessages = 5_000
    @Option(help: "Rounds, each a fresh zhifa process then a fresh C baseline run (with --baseline); prints every round and the medians. This machine's spread between runs is wide (±15%), so compare medians.")
    var rounds = 1

    func run() async throws {
        if rounds > 1 { return try runRounds() }
        let (config, _) = try common.load()
        var o = KafkaBench.Options()
        o.brokers = brokers
        o.messages = messages
        o.partitions = partitions
        o.lingerMs = lingerMs
        o.fetchWaitMaxMs = fetchWaitMs
        o.rate = rate
        o.latencyMessages = latencyMessages
        emit("zhifa bench kafka: brokers=\(brokers) partitions=\(partitions) messages=\(messages) payload=\(o.payloadBytes)B linger.ms=\(lingerMs) fetch.wait.max.ms=\(fetchWaitMs) rate=\(rate)/s")
        let r = try await KafkaBench.run(o, config: config, log: { emit($0) })
        emit(String(format: "zhifa produce_msgs_per_s=%.0f relay_msgs_per_s=%.0f e2e_p50_ms=%.2f e2e_p99_ms=%.2f peak_rss_mb=%.0f",
                    r.produceMsgsPerS, r.relayMsgsPerS, r.p50Ms, r.p99Ms, r.peakRSSMB))
        if let dir = baselineOption.baseline {
            let b = try CBaseline.run(directory: dir, arguments: o.baselineArguments)
            emit(b.raw)
            emit(String(format: "ratio zhifa/C: produce %.0f%%, relay %.0f%% (target ≥ 70%%); p99 %+.2f ms vs C (target ≤ +5 ms)",
                        100 * r.produceMsgsPerS / b.produceMsgsPerS, 100 * r.relayMsgsPerS / b.relayMsgsPerS, r.p99Ms - b.p99Ms))
        }
    }
}

extension BenchKafkaCommand {
    /// The command line of one round: these options without `--rounds` and `--baseline`.
    private var roundArguments: [String] {
        var a = ["bench", "kafka", "--config", common.config, "--data-dir", common.dataDir]
        a += ["--brokers", "\(brokers)", "--messages", "\(messages)", "--partitions", "\(partitions)"]
        a += ["--linger-ms", "\(lingerMs)", "--fetch-wait-ms", "\(fetchWaitMs)", "--rate", "\(rate)", "--latency-messages", "\(latencyMessages)"]
        return a
    }

    /// Alternates fresh zhifa and C processes and prints the medians.
    private func runRounds() throws {
        var o = KafkaBench.Options()
        (o.brokers, o.messages, o.partitions, o.lingerMs, o.fetchWaitMaxMs, o.rate, o.latencyMessages) =
            (brokers, messages, partitions, lingerMs, fetchWaitMs, rate, latencyMessages)
        var ours: [[String: Double]] = []
        var theirs: [CBaseline] = []
        for round in 1...rounds {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            child.arguments = roundArguments
            let pipe = Pipe()
            child.standardOutput = pipe
            try child.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            guard child.terminationStatus == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("zhifa produce_msgs_per_s=") }) else {
                throw BenchError("round \(round): zhifa bench kafka failed (exit \(child.terminationStatus))")
            }
            ours.append(keyValues(line))
            emit("round \(round): " + line)
            if let dir = baselineOption.baseline {
                let b = try CBaseline.run(directory: dir, arguments: o.baselineArguments)
                theirs.append(b)
                emit("round \(round): " + b.raw)
            }
        }
        let relay = median(ours.map { $0["relay_msgs_per_s"] ?? 0 })
        let produce = median(ours.map { $0["produce_msgs_per_s"] ?? 0 })
        let p99 = median(ours.map { $0["e2e_p99_ms"] ?? 0 })
        emit(String(format: "median of %d: zhifa produce_msgs_per_s=%.0f relay_msgs_per_s=%.0f e2e_p99_ms=%.2f", rounds, produce, relay, p99))
        guard !theirs.isEmpty else { return }
        let cRelay = median(theirs.map(\.relayMsgsPerS))
        let cProduce = median(theirs.map(\.produceMsgsPerS))
        let cP99 = median(theirs.map(\.p99Ms))
        let ratios = zip(ours, theirs).map { 100 * ($0["relay_msgs_per_s"] ?? 0) / $1.relayMsgsPerS }
        emit(String(format: "median of %d: C produce_msgs_per_s=%.0f relay_msgs_per_s=%.0f e2e_p99_ms=%.2f", rounds, cProduce, cRelay, cP99))
        emit(String(format: "ratio zhifa/C (medians): produce %.0f%%, relay %.0f%% (target ≥ 70%%; per round %@); p99 %+.2f ms vs C (target ≤ +5 ms)",
                    100 * produce / cProduce, 100 * relay / cRelay, ratios.map { String(format: "%.0f%%", $0) }.joined(separator: " "), p99 - cP99))
    }
}

/// `zhifa bench ingest`.
struct BenchIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Signed single-event and batched HTTP ingest with the durable outbox on, next to a bare signature-verifying endpoint.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var baselineOption: BaselineOption
    @Option(name: .customLong("requests"), help: "Single-event requests per phase.") var requests = 6_000
    @Option(name: .customLong("batches"), help: "Batch requests.") var batches = 300
    @Option(name: .customLong("batch-size")) var batchSize = 100
    @Option(help: "Requests in flight (single events).") var concurrency = 32
    @Option(help: "Batch requests in flight.") var batchConcurrency = 8

    func run() async throws {
        let (config, _) = try common.load()
        var o = IngestBench.Options()
        o.singleRequests = requests
        o.batchRequests = batches
        o.batchSize = batchSize
        o.concurrency = concurrency
        o.batchConcurrency = batchConcurrency
        emit("zhifa bench ingest: \(requests) single requests, \(batches) batches of \(batchSize), \(concurrency) single and \(batchConcurrency) batch requests in flight; outbox fsync on every commit")
        let phases = try await IngestBench.run(o, config: config, log: { emit($0) })
        let bare = phases[0], single = phases[1], batched = phases[2]
        emit(String(format: "zhifa ingest_single_events_per_s=%.0f ingest_single_p99_ms=%.1f bare_per_s=%.0f ingest_batch_events_per_s=%.0f ingest_batch_p99_ms=%.1f peak_rss_mb=%.0f",
                    single.eventsPerSecond, single.p99Ms, bare.eventsPerSecond, batched.eventsPerSecond, batched.p99Ms, BenchSupport.peakRSSMB()))
        emit(String(format: "ratio single/bare: %.0f%% (target ≥ 60%%)", 100 * single.eventsPerSecond / bare.eventsPerSecond))
        if let dir = baselineOption.baseline {
            let b = try CBaseline.run(directory: dir, arguments: KafkaBench.Options().baselineArguments)
            emit(b.raw)
            emit(String(format: "ratio batched/C produce: %.0f%% (target ≥ 25%%)", 100 * batched.eventsPerSecond / b.produceMsgsPerS))
        }
    }
}

/// `zhifa bench review`.
struct BenchReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review", abstract: "The simulator's mix through the review service: events/s, decisions checked/s, drafted→findings latency.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Events in the backlog.") var events = 15_000
    @Option(help: "Events per second in the latency phase.") var rate = 200
    @Flag(name: .customLong("no-relay"), help: "Skip the same-sitting relay measurement.") var noRelay = false

    func run() async throws {
        let (config, _) = try common.load()
        let relay = noRelay ? 0 : try await ServiceBench.relayFigure(config) { emit("  (relay) " + $0) }
        let r = try await ReviewBench.run(config: config, events: events, rate: rate) { emit($0) }
        emit(String(format: "zhifa review_events_per_s=%.0f review_decisions_checked_per_s=%.0f drafted_to_findings_p50_ms=%.1f p99_ms=%.1f peak_rss_mb=%.0f relay_msgs_per_s=%.0f",
                    r.eventsPerSecond, r.decisionsPerSecond, r.latencyP50Ms, r.latencyP99Ms, r.peakRSSMB, relay))
        if relay > 0 { emit(String(format: "ratio review events/relay: %.0f%% (target ≥ 50%%)", 100 * r.eventsPerSecond / relay)) }
    }
}

/// `zhifa bench publicity`.
struct BenchPublicityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publicity", abstract: "decision.issued → the entry on /feed.json and pushed on /events: latency at a steady rate, and throughput at full speed.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Decisions per second in the latency phase.") var rate = 200
    @Option(help: "Seconds of the latency phase.") var seconds = 10
    @Option(help: "Decisions in the full-speed backlog.") var backlog = 5_000
    @Flag(name: .customLong("no-relay"), help: "Skip the same-sitting relay measurement.") var noRelay = false

    func run() async throws {
        let (config, _) = try common.load()
        let relay = noRelay ? 0 : try await ServiceBench.relayFigure(config) { emit("  (relay) " + $0) }
        let r = try await PublicityBench.run(config: config, rate: rate, seconds: seconds, backlog: backlog) { emit($0) }
        emit(String(format: "zhifa publicity_feed_p50_ms=%.1f publicity_feed_p99_ms=%.1f publicity_stream_p50_ms=%.1f publicity_stream_p99_ms=%.1f publicity_decisions_per_s=%.0f peak_rss_mb=%.0f relay_msgs_per_s=%.0f",
                    r.feedP50Ms, r.feedP99Ms, r.streamP50Ms, r.streamP99Ms, r.throughputPerSecond, r.peakRSSMB, relay))
        emit(String(format: "target: p99 ≤ 100 ms at %d/s — feed %@, stream %@", r.rate, r.feedP99Ms <= 100 ? "met" : "NOT met", r.streamP99Ms <= 100 ? "met" : "NOT met"))
        if relay > 0 { emit(String(format: "ratio publicity decisions/relay messages: %.1f%%", 100 * r.throughputPerSecond / relay)) }
    }
}

/// `zhifa bench archive`.
struct BenchArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive", abstract: "Events archived per second with the hash chain and fsync on, and 四性 verify time per 100,000 entries.")
    @OptionGroup var common: CommonOptions
    @Option(help: "Events in the backlog (the embedded broker keeps 5 MiB per partition).") var events = 15_000
    @Flag(name: .customLong("no-relay"), help: "Skip the same-sitting relay measurement.") var noRelay = false

    func run() async throws {
        let (config, _) = try common.load()
        let relay = noRelay ? 0 : try await ServiceBench.relayFigure(config) { emit("  (relay) " + $0) }
        let r = try await ArchiveBench.run(config: config, events: events) { emit($0) }
        emit(String(format: "zhifa archive_events_per_s=%.0f verify_s_per_100k_entries=%.2f entries=%lld store_mb=%.0f peak_rss_mb=%.0f relay_msgs_per_s=%.0f",
                    r.eventsPerSecond, r.verifySecondsPer100k, r.entries, r.storeMB, r.peakRSSMB, relay))
        if relay > 0 { emit(String(format: "ratio archive events/relay: %.0f%% (target ≥ 50%%)", 100 * r.eventsPerSecond / relay)) }
    }
}

/// `zhifa bench contract`.
struct BenchContractCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contract", abstract: "What validating one consumed event costs: parse, schema validation, typed decode (µs per event, one core).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Simulated events.") var events = 15_000
    @Option(help: "Passes over them; the best pass counts.") var passes = 5

    func run() async throws {
        let (config, _) = try common.load()
        let r = try ContractBench.run(config: config, events: events, passes: passes) { emit($0) }
        emit(String(format: "zhifa contract_parse_us=%.2f contract_validate_us=%.2f contract_decode_us=%.2f events=%d avg_bytes=%d",
                    r.parseMicros, r.validateMicros, r.decodeMicros, r.events, r.averageBytes))
    }
}
