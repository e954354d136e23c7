import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaRuntime

/// `zhifa up`: the embedded broker and every service in one process.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the embedded broker and all services in one process.",
        discussion: "Prints `kafka bootstrap: HOST:PORT` as the first line of standard output. Stops cleanly on SIGINT/SIGTERM.")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Also run the terminal simulator at a gentle rate, so records flow.")
    var demo = false

    func run() async throws {
        let (config, dataDir) = try common.load()
        let logger = Logger(label: "zhifa.up")
        let broker = try EmbeddedBrokerService(
            config: config, brokers: config.kafka.embeddedBrokers, dataDirectory: dataDir, bootstrapFile: nil, logger: logger)
        try broker.announce()
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: broker)]
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
