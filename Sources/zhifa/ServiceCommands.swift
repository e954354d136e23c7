import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaIngest
import ZhifaRuntime

/// The services `zhifa up` and the single-service commands run.
enum ServiceCatalog {
    static let all = ["ingest"]

    /// Builds one service's runnables.
    static func make(_ name: String, config: ZhifaConfiguration, bootstrap: String, dataDirectory: DataDirectory) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let context = ServiceContext(name: name, config: config, bootstrap: bootstrap, dataDirectory: dataDirectory)
        switch name {
        case "ingest": return try IngestService.make(context: context)
        default: throw ValidationError("unknown service \(name)")
        }
    }

    /// Runs services until SIGINT/SIGTERM.
    static func run(_ names: [String], common: CommonOptions) async throws {
        let (config, dataDir, bootstrap) = try common.loadWithKafka()
        let logger = Logger(label: "zhifa")
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        for n in names {
            let context = ServiceContext(name: n, config: config, bootstrap: bootstrap, dataDirectory: dataDir)
            try await context.ensureTopics()
            services += try make(n, config: config, bootstrap: bootstrap, dataDirectory: dataDir)
        }
        try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}

/// `zhifa ingest`.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Run the HTTP ingest for terminals (authenticated, durable outbox, relayed to Kafka).")
    @OptionGroup var common: CommonOptions
    func run() async throws { try await ServiceCatalog.run(["ingest"], common: common) }
}
