import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaRuntime
import ZhifaTerminal

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
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: broker)]
        let drain = StopDrain()
        for name in ServiceCatalog.all {
            services += try await ServiceCatalog.make(name, config: config, bootstrap: broker.cluster.bootstrapServers, dataDirectory: dataDir,
                                                      stopDrain: drain)
        }
        // A group stops its services in reverse order: the demo first, then the drain, while the
        // services still run; the broker last.
        services.append(.init(service: StopDrainService(
            drain: drain, client: config.clientSettings(bootstrap: broker.cluster.bootstrapServers, role: "drain"),
            timeout: .seconds(config.kafka.embeddedDrainSeconds), logger: logger)))
        if demo {
            guard config.http.ingestPort != 0 else { throw ValidationError("--demo needs a fixed ingest port (http.ports.ingest)") }
            services.append(.init(service: DemoTraffic(
                rules: try RulesLoader.load(config.rules), settings: config.simulator,
                ingestURL: "http://\(config.http.host == "0.0.0.0" ? "127.0.0.1" : config.http.host):\(config.http.ingestPort)",
                configDirectory: config.directory,
                opinions: .init(topic: config.topics.review,
                                consumer: config.consumerConfiguration(bootstrap: broker.cluster.bootstrapServers, group: "zhifa-demo", role: "demo")),
                numberingFile: dataDir.path(DemoTraffic.numberingFileName), heldFile: dataDir.path(DemoTraffic.heldFileName),
                logger: Logger(label: "zhifa.demo"))))
        }
        let group = ServiceGroup(configuration: .init(
            services: stoppingInOrderOnFailure(services), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
