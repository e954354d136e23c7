import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaIngest
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa bench ingest`: signed single-event and batched requests against the real ingest (durable
/// outbox on, relaying to the embedded broker), next to a bare endpoint on the same server stack
/// that only verifies the same Ed25519 signature and answers 202.
public enum IngestBench {
    public struct Options: Sendable {
        public var singleRequests = 6_000
        public var batchRequests = 300
        public var batchSize = 100
        public var concurrency = 32
        public var batchConcurrency = 8
        public init() {}
    }

    public struct Phase: Sendable {
        public var name: String
        public var requests: Int
        public var events: Int
        public var seconds: Double
        public var p50Ms: Double
        public var p99Ms: Double
        public var failures: Int
        public var eventsPerSecond: Double { Double(events) / seconds }
    }

    struct Prepared: Sendable {
        var path: String
        var body: [UInt8]
        var headers: [(String, String)]
        var events: Int
    }

    public static func run(_ o: Options, config base: ZhifaConfiguration, log: @escaping @Sendable (String) -> Void) async throws -> [Phase] {
        var logger = Logger(label: "zhifa.bench")
        logger.logLevel = .warning
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhifa-bench-ingest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cluster = try EmbeddedKafkaCluster(brokers: 1, logger: logger)
        for t in base.allTopics { try cluster.createTopic(t.name, partitions: t.partitions) }
        var config = base
        config.http.ingestPort = 0
        config.ingest.outboxMaxEvents = 100_000_000
        let ingestContext = ServiceContext(name: "ingest", config: config, bootstrap: cluster.bootstrapServers, dataDirectory: try DataDirectory(path: dir.path), logger: logger)
        let bareContext = ServiceContext(name: "bare", config: config, bootstrap: cluster.bootstrapServers, dataDirectory: try DataDirectory(path: dir.path), logger: logger)
        let devices = try DeviceRegistry.load(config.ingest.devicesFile)
        let authenticator = DeviceAuthenticator(devices: devices, clockSkewSeconds: config.ingest.clockSkewSeconds)
        let bare = ServiceHTTPServer.make(context: bareContext, port: 0) { router in
            router.post("/v1/events") { request, _ -> Response in
                let body = Array(try await request.body.collect(upTo: 1 << 20).readableBytesView)
                _ = try authenticator.authenticate(request, body: body)
                return Response(status: .accepted)
            }
        }
        var services = try IngestService.make(context: ingestContext)
        services.append(.init(service: bare))
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let groupTask = Task { try await group.run() }
        let ingestPort = await ingestContext.listening.value
        let barePort = await bareContext.listening.value

        // Events from the simulator, signed up front so the load generator only sends.
        let rules = try RulesLoader.load(config.rules)
        var sim = TownSimulator(rules: rules, settings: config.simulator, seed: 2024, start: ChinaTime.startOfDay(CalendarDay(year: 2024, month: 5, day: 6)))
        var events: [SimulatedEvent] = []
        var seed: UInt64 = 1
        while events.count < o.singleRequests * 2 + o.batchRequests * o.batchSize {
            events += try sim.generate(cases: 500).flatMap(\.events)
            seed += 1
            sim = TownSimulator(rules: rules, settings: config.simulator, seed: seed, start: ChinaTime.startOfDay(CalendarDay(year: 2024, month: 5, day: 6)))
        }
        let keys = Mutex<[String: Curve25519Key]>([:])
        func sign(_ path: String, _ body: [UInt8], device: String) throws -> Prepared {
            let key = try keys.withLock { k in
                if let v = k[device] { return v }
                let v = Curve25519Key(try DemoDeviceKeys.load(deviceId: device, configDirectory: config.directory))
                k[device] = v
                return v
            }
            let headers = try DeviceSignature.headers(method: "POST", path: path, body: body, deviceId: device, privateKey: key.key)
            return Prepared(path: path, body: body, headers: headers + [("Content-Type", path.hasSuffix(":batch") ? "application/cloudevents-batch+json" : "application/cloudevents+json")], events: 1)
        }
        let bareRequests = try events.prefix(o.singleRequests).map { try sign("/v1/events", StructuredCloudEvent.serialize($0.event), device: $0.deviceId) }
        let singleRequests = try events.dropFirst(o.singleRequests).prefix(o.singleRequests).map { try sign("/v1/events", StructuredCloudEvent.serialize($0.event), device: $0.deviceId) }
        let rest = Array(events.dropFirst(o.singleRequests * 2))
        var batchRequests: [Prepared] = []
        for b in 0..<o.batchRequests {
            let chunk = rest[(b * o.batchSize)..<min(rest.count, (b + 1) * o.batchSize)]
            var body = Array("[".utf8)
            for (i, e) in chunk.enumerated() {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                body += StructuredCloudEvent.serialize(e.event)
            }
            body.append(UInt8(ascii: "]"))
            var p = try sign("/v1/events:batch", body, device: "SYS-WQ-DWGZ-ZHZF")
            p.events = chunk.count
            batchRequests.append(p)
        }
        // The batch is signed by the case system, which may send any of its agency's events.

        // Diagnostic: the contract validator alone, on the same events.
        let sample = events.prefix(20_000).map { StructuredCloudEvent.serialize($0.event) }
        let v0 = ContinuousClock.now
        var valid = 0
        for _ in 0..<(ProcessInfo.processInfo.environment["ZHIFA_BENCH_VALIDATOR_ROUNDS"].flatMap(Int.init) ?? 1) {
            for bytes in sample { if case .valid = EventValidator.contract.validate(structured: bytes) { valid += 1 } }
        }
        let vs = Double((ContinuousClock.now - v0) / .microseconds(1)) / 1e6
        let p0 = ContinuousClock.now
        var parsed: [JSONValue] = []
        for bytes in sample { if let v = try? JSONParser.parse(bytes) { parsed.append(v) } }
        let ps = Double((ContinuousClock.now - p0) / .microseconds(1)) / 1e6
        let s0 = ContinuousClock.now
        for v in parsed { if case .valid = EventValidator.contract.validate(v) { valid += 0 } }
        let ss = Double((ContinuousClock.now - s0) / .microseconds(1)) / 1e6
        log(String(format: "[validator alone] parse %.1f µs/event, schema %.1f µs/event", ps / Double(sample.count) * 1e6, ss / Double(sample.count) * 1e6))
        log(String(format: "[validator alone] %d events parsed and validated in %.2f s: %.0f events/s (%d valid)", sample.count, vs, Double(sample.count) / vs, valid))

        var c = HTTPClient.Configuration()
        c.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: c)
        var phases: [Phase] = []
        phases.append(try await load(client, "bare endpoint (verify signature, 202)", base: "http://127.0.0.1:\(barePort)", bareRequests, concurrency: o.concurrency, expect: [202]))
        log(describe(phases.last!))
        phases.append(try await load(client, "ingest, single events", base: "http://127.0.0.1:\(ingestPort)", singleRequests, concurrency: o.concurrency, expect: [202]))
        log(describe(phases.last!))
        phases.append(try await load(client, "ingest, batches of \(o.batchSize)", base: "http://127.0.0.1:\(ingestPort)", batchRequests, concurrency: o.batchConcurrency, expect: [200]))
        log(describe(phases.last!))
        try await client.shutdown()
        await group.triggerGracefulShutdown()
        try await groupTask.value
        await cluster.shutdown()
        return phases
    }

    static func describe(_ p: Phase) -> String {
        String(format: "[%@] %d requests, %d events in %.2f s: %.0f events/s, request p50 %.1f ms, p99 %.1f ms%@",
               p.name, p.requests, p.events, p.seconds, p.eventsPerSecond, p.p50Ms, p.p99Ms, p.failures > 0 ? ", \(p.failures) FAILED" : "")
    }

    static func load(_ client: HTTPClient, _ name: String, base: String, _ requests: [Prepared], concurrency: Int, expect: Set<Int>) async throws -> Phase {
        let state = LoadState()
        let t0 = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { g in
            for _ in 0..<concurrency {
                g.addTask {
                    while true {
                        let i = state.next.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard i < requests.count else { return }
                        let p = requests[i]
                        var r = HTTPClientRequest(url: base + p.path)
                        r.method = .POST
                        for (n, v) in p.headers { r.headers.add(name: n, value: v) }
                        r.body = .bytes(ByteBuffer(bytes: p.body))
                        let s = ContinuousClock.now
                        let response = try await client.execute(r, timeout: .seconds(60))
                        _ = try await response.body.collect(upTo: 1 << 24)
                        let ms = Double((ContinuousClock.now - s) / .microseconds(1)) / 1000
                        state.latencies.withLock { $0.append(ms) }
                        if !expect.contains(Int(response.status.code)) { state.failures.add(1, ordering: .relaxed) }
                    }
                }
            }
            try await g.waitForAll()
        }
        let seconds = Double((ContinuousClock.now - t0) / .microseconds(1)) / 1e6
        let sorted = state.latencies.withLock { $0.sorted() }
        return Phase(name: name, requests: requests.count, events: requests.reduce(0) { $0 + $1.events }, seconds: seconds,
                     p50Ms: BenchSupport.percentile(sorted, 0.5), p99Ms: BenchSupport.percentile(sorted, 0.99), failures: state.failures.load(ordering: .relaxed))
    }
}

/// A signing key that can cross tasks.
struct Curve25519Key: @unchecked Sendable {
    let key: Curve25519.Signing.PrivateKey
    init(_ k: Curve25519.Signing.PrivateKey) { key = k }
}

/// Shared counters of one load phase.
final class LoadState: Sendable {
    let next = Atomic<Int>(0)
    let latencies = Mutex<[Double]>([])
    let failures = Atomic<Int>(0)
}
