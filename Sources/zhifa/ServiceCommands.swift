import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import ZhifaArchive
import ZhifaIngest
import ZhifaPublicity
import ZhifaReview
import ZhifaRuntime

/// The services `zhifa up` and the single-service commands run.
enum ServiceCatalog {
    static let all = ["ingest", "review", "publicity", "archive"]

    /// Builds one service's runnables.
    /// With `stopDrain`, its consumer groups and outboxes are drained when `zhifa up` stops.
    static func make(_ name: String, config: ZhifaConfiguration, bootstrap: String, dataDirectory: DataDirectory,
                     stopDrain: StopDrain? = nil) async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let context = ServiceContext(name: name, config: config, bootstrap: bootstrap, dataDirectory: dataDirectory, stopDrain: stopDrain)
        switch name {
        case "ingest": return try IngestService.make(context: context)
        case "review": return try await ReviewService.make(context: context)
        case "publicity": return try await PublicityService.make(context: context)
        case "archive": return try await ArchiveService.make(context: context)
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
            services += try await make(n, config: config, bootstrap: bootstrap, dataDirectory: dataDir)
        }
        try await ServiceGroup(configuration: .init(services: stoppingInOrderOnFailure(services), gracefulShutdownSignals: [.sigterm, .sigint],
                                                    logger: logger)).run()
    }
}

/// `zhifa ingest`.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Run the HTTP ingest for terminals (authenticated, durable outbox, relayed to Kafka).")
    @OptionGroup var common: CommonOptions
    func run() async throws { try await ServiceCatalog.run(["ingest"], common: common) }
}

/// `zhifa publicity`.
struct PublicityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publicity", abstract: "The public feed (行政执法公示): redacted decisions as JSON Feed, Atom, HTML and a live stream, on time, with withdrawals.")
    @OptionGroup var common: CommonOptions
    func run() async throws { try await ServiceCatalog.run(["publicity"], common: common) }
}

/// `zhifa review`: the legal review service, and `zhifa review token`.
struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review", abstract: "The legal review service (法制审核): automated checks, reviewer task queue and API.",
        subcommands: [ReviewRunCommand.self, ReviewTokenCommand.self], defaultSubcommand: ReviewRunCommand.self)
}

struct ReviewRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the review service (the default).")
    @OptionGroup var common: CommonOptions
    func run() async throws { try await ServiceCatalog.run(["review"], common: common) }
}

struct ReviewTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Print a bearer token for a registered reviewer (for operators).")
    @OptionGroup var common: CommonOptions
    @Option(help: "Reviewer id from reviewers.yaml.") var reviewer: String
    func run() async throws {
        let (config, _) = try common.load()
        emit(try await ReviewService.token(config: config, reviewerId: reviewer))
    }
}
