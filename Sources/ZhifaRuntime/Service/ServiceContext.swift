import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import ZhifaKafka

/// What one service needs to run: configuration, the Kafka cluster, its data directory, its own
/// metrics and readiness registries. Each service gets its own context, so `zhifa up` can host all
/// four in one process with separate `/metrics` and `/readyz`.
public struct ServiceContext: Sendable {
    /// Service name (`ingest`, `review`, `publicity`, `archive`).
    public let name: String
    public let config: ZhifaConfiguration
    /// Kafka bootstrap servers.
    public let bootstrap: String
    public let dataDirectory: DataDirectory
    public let logger: Logger
    /// This service's metrics (served on its `/metrics`).
    public let metrics: PrometheusCollectorRegistry
    public let health: HealthRegistry
    /// The HTTP port once the server listens (port 0 in the configuration picks a free one).
    public let listening: PortAnnouncement
    /// What `zhifa up` waits for before its embedded broker stops (nil: nothing is waited for).
    public let stopDrain: StopDrain?

    /// Creates a context; with `stopDrain`, its consumer groups and outboxes are drained on stop.
    public init(name: String, config: ZhifaConfiguration, bootstrap: String, dataDirectory: DataDirectory, logger: Logger? = nil,
                stopDrain: StopDrain? = nil) {
        self.name = name
        self.config = config
        self.bootstrap = bootstrap
        self.dataDirectory = dataDirectory
        self.logger = logger ?? Logger(label: "zhifa.\(name)")
        self.metrics = PrometheusCollectorRegistry()
        self.health = HealthRegistry()
        self.listening = PortAnnouncement()
        self.stopDrain = stopDrain
    }

    /// swift-metrics factory writing to this service's registry.
    public var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: metrics) }

    /// An idempotent producer for this service.
    public func makeProducer() throws -> KafkaProducer {
        try KafkaProducer(configuration: config.producerConfiguration(bootstrap: bootstrap, role: name), logger: logger)
    }

    /// A worker for `group` over `topics` (plus its retry topic), reporting into this context.
    public func makeWorker(group: String, topics: [String], producer: KafkaProducer, concurrency: Int? = nil, handler: @escaping MessageHandler) -> KafkaWorker {
        var settings = config.worker
        if let concurrency { settings.concurrency = concurrency }
        let worker = KafkaWorker(
            group: group, topics: topics, settings: settings,
            consumer: config.consumerConfiguration(bootstrap: bootstrap, group: group, role: name),
            producer: producer, metricsFactory: metricsFactory, logger: logger, onProgress: stopDrain?.progressMade, handler: handler)
        health.register("kafka-consumer:\(group)") {
            switch worker.currentStatus {
            case .running: .ok
            case .starting: .failed("starting")
            case .stopping, .stopped: .failed("stopped")
            case .failed(let why): .failed(why)
            }
        }
        stopDrain?.watch(group: group, topics: topics + [TopicNames.retry(group)], stopped: {
            switch worker.currentStatus {
            case .starting, .running: nil
            case .stopping, .stopped: "stopped"
            case .failed(let why): why
            }
        }, commit: { try await worker.commitStoredOffsets() })
        return worker
    }

    /// On a real cluster, creates missing topics with the Admin API (the embedded broker creates
    /// them itself at start).
    public func ensureTopics() async throws {
        guard !config.kafka.brokers.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        let admin = try KafkaAdmin(client: config.clientSettings(bootstrap: bootstrap, role: "\(name)-admin"), logger: logger)
        let created = try await admin.ensureTopics(config.allTopics)
        await admin.close()
        if !created.isEmpty { logger.notice("created topics", metadata: ["topics": "\(created.joined(separator: ","))"]) }
    }
}

/// A Hummingbird server for one service, with `/healthz`, `/readyz`, `/metrics` and problem+json
/// errors. Prints `<name> http://host:port` on standard output once listening (port 0 picks a
/// free port; tests read the line).
public enum ServiceHTTPServer {
    /// Builds the server as a `Service`.
    public static func make(
        context: ServiceContext, port: Int, maxUploadBytes: Int = 1 << 20,
        beforeScrape: @escaping @Sendable () -> Void = {},
        routes: (Router<BasicRequestContext>) -> Void
    ) -> some Service {
        let router = Router()
        router.add(middleware: ProblemMiddleware())
        router.add(middleware: CORSGetMiddleware())
        OpsRoutes.add(to: router, health: context.health, metrics: context.metrics, beforeScrape: beforeScrape)
        routes(router)
        let name = context.name
        let host = context.config.http.host
        let logger = context.logger
        let announcement = context.listening
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "zhifa-\(name)"),
            onServerRunning: { channel in
                let actual = channel.localAddress?.port ?? port
                announcement.announce(actual)
                FileHandle.standardOutput.write(Data("\(name) http://\(host):\(actual)\n".utf8))
                logger.info("listening", metadata: ["url": "http://\(host):\(actual)"])
            },
            logger: logger)
        return ListeningService(server: application, service: name, host: host, port: port)
    }
}

/// Runs a service's HTTP server; a failure to listen becomes an `HTTPListenError` that names the
/// service, the address and the setting to change, instead of the socket layer's `bind(…)` text.
struct ListeningService<Server: Service>: Service {
    let server: Server
    let service: String
    let host: String
    let port: Int

    func run() async throws {
        do {
            try await server.run()
        } catch let error as IOError where [EADDRINUSE, EADDRNOTAVAIL, EACCES].contains(error.errnoCode) {
            throw HTTPListenError(service: service, host: host, port: port, errno: error.errnoCode)
        }
    }
}

/// A service's HTTP server could not listen on its address.
public struct HTTPListenError: Error, CustomStringConvertible {
    public let service: String
    public let host: String
    public let port: Int
    public let errno: Int32

    /// The configuration key of the service's port.
    public var portKey: String { "http.ports.\(service)" }

    public var description: String {
        let setting = "\(portKey) in the configuration, or \(ConfigSource.environmentName(for: portKey))"
        switch errno {
        case EADDRINUSE:
            return "the \(service) service cannot listen on \(host):\(port): the port is already in use — is another zhifa (`zhifa up`, "
                + "`zhifa \(service)`) still running? Stop it, or choose a free port with \(setting)"
        case EACCES:
            return "the \(service) service may not listen on \(host):\(port) (ports below 1024 need privileges): choose another port with \(setting)"
        default:
            return "the \(service) service cannot listen on \(host):\(port): no such local address — check http.host (\(ConfigSource.environmentName(for: "http.host")))"
        }
    }
}

/// Open CORS for reads (the public feed and health endpoints); other methods are unaffected.
public struct CORSGetMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if request.method == .get || request.method == .head {
            response.headers[.accessControlAllowOrigin] = "*"
        }
        return response
    }
}

/// The port a server ended up listening on.
public final class PortAnnouncement: Sendable {
    private let port = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    public init() {}

    func announce(_ p: Int) {
        let w = port.withLock { s -> [CheckedContinuation<Int, Never>] in
            s.value = p
            defer { s.waiters = [] }
            return s.waiters
        }
        for c in w { c.resume(returning: p) }
    }

    /// Waits until the server listens.
    public var value: Int {
        get async {
            await withCheckedContinuation { c in
                let now = port.withLock { s -> Int? in
                    if let v = s.value { return v }
                    s.waiters.append(c)
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        }
    }
}
