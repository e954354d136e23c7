import ArgumentParser
import Foundation
import ZhifaBench
import ZhifaRuntime

/// `zhifa bench …`: benchmarks.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks on the embedded broker (numbers, not tests).",
        subcommands: [BenchKafkaCommand.self])
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

    func run() async throws {
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
