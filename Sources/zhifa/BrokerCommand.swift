import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaRuntime

/// `zhifa broker`: the embedded broker alone, in the foreground.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the embedded Kafka broker (librdkafka's mock cluster) in the foreground.",
        discussion: "Prints `kafka bootstrap: HOST:PORT[,…]` as the first line of standard output and records it in <data-dir>/bootstrap until it stops (SIGINT/SIGTERM).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Number of brokers (default: kafka.embedded.brokers).")
    var brokers: Int?

    @Option(name: .customLong("bootstrap-file"), help: "Also write the bootstrap string to this file.")
    var bootstrapFile: String?

    func run() async throws {
        let (config, dataDir) = try common.load()
        let logger = Logger(label: "zhifa.broker")
        let n = brokers ?? config.kafka.embeddedBrokers
        guard (1...16).contains(n) else { throw ValidationError("--brokers must be between 1 and 16") }
        let broker = try EmbeddedBrokerService(
            config: config, brokers: n, dataDirectory: dataDir,
            bootstrapFile: bootstrapFile.map { URL(fileURLWithPath: $0) }, logger: logger)
        try broker.announce()
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: broker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
