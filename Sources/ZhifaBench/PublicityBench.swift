import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import ZhifaDomain
import ZhifaKafka
import ZhifaPublicity
import ZhifaRuntime
import ZhifaTerminal

/// `zhifa bench publicity`: `decision.issued` produced → the entry on `/feed.json` and pushed on
/// `/events`, with the publicity service in-process on the embedded broker. The bench plays the
/// terminals (case.opened, decision.issued) and the review service (the classification), so only
/// the publicity service is measured.
public enum PublicityBench {
    public struct Result: Sendable {
        public var rate: Int
        public var decisions: Int
        public var feedP50Ms: Double
        public var feedP99Ms: Double
        public var streamP50Ms: Double
        public var streamP99Ms: Double
        public var throughputPerSecond: Double
        public var peakRSSMB: Double
    }

    static func event(_ id: String, type: EventType, time: String, data: JSONValue) -> CloudEvent {
        CloudEvent(id: id, source: "urn:zhifa:device:PDA-0031", type: type.rawValue, time: time, dataContentType: "application/json", data: data.jsonBytes)
    }

    /// A simple-procedure penalty case `n`: its opening and its decision.
    static func simpleCase(_ n: Int, prefix: String) -> (opened: CloudEvent, issued: CloudEvent, caseId: String, entryId: String) {
        let caseId = "WQ-DWGZ-2026-B\(prefix)-\(n)"
        let decisionId = "DEC-B\(prefix)-\(n)"
        let t = "2026-11-02T09:00:00+08:00"
        let opened: JSONValue = .object(JSONObject([
            ("caseId", .string(caseId)), ("agencyId", .string("WQ-DWGZ-ZHZF")), ("matterCode", .string("CITY-APPEAR-036")), ("category", .string("penalty")),
            ("procedure", .string("simple")),
            ("party", .object(JSONObject([("kind", .string("naturalPerson")), ("name", .string("王小明")), ("idType", .string("residentIdCard")),
                                          ("idNumber", .string("120222199001011234")), ("phone", .string("13900001111")),
                                          ("address", .string("天津市武清区大王古庄镇东庄村3排5号"))]))),
            ("officers", .array([.object(JSONObject([("officerId", .string("OF-1201")), ("credentialNumber", .string("津执法12010001"))])),
                                 .object(JSONObject([("officerId", .string("OF-1202")), ("credentialNumber", .string("津执法12010002"))]))])),
            ("violationStartedAt", .string("2026-11-02T08:40:00+08:00")), ("violationEndedAt", .string("2026-11-02T08:50:00+08:00")),
            ("openedAt", .string(t)), ("summary", .string("占道经营")),
        ]))
        let issued: JSONValue = .object(JSONObject([
            ("caseId", .string(caseId)), ("decisionId", .string(decisionId)), ("documentNumber", .string("津武大王古庄简罚〔2026〕B\(prefix)\(n)号")),
            ("issuedAt", .string("2026-11-02T09:20:00+08:00")), ("penalties", .array([.object(JSONObject([("kind", .string("fine")), ("amountFen", .number(JSONNumber(10_000)))]))])),
            ("legalBasis", .array([.object(JSONObject([("law", .string("天津市市容和环境卫生管理条例")), ("article", .string("第五十七条")), ("role", .string("penaltyBasis"))]))])),
            ("facts", .string("当事人王小明在集贸市场东口占道经营，电话13900001111，经现场劝阻未改正。")),
        ]))
        return (event("bench-\(prefix)-\(n)-opened", type: .caseOpened, time: t, data: opened),
                event("bench-\(prefix)-\(n)-issued", type: .decisionIssued, time: t, data: issued), caseId,
                PublicEntryBuilder.entryId(agencyId: "WQ-DWGZ-ZHZF", decisionId: decisionId))
    }

    static func classification(_ caseId: String, _ n: Int, prefix: String, topic: String) throws -> KafkaRecord {
        let c = ReviewClassificationEvent(caseId: caseId, decisionId: "DEC-B\(prefix)-\(n)", agencyId: "WQ-DWGZ-ZHZF", major: false, reasons: [], trigger: .issued, basedOn: [])
        return try InternalEvents.record(topic: topic, key: caseId, id: "bench-\(prefix)-\(n)-class", type: ReviewEventType.classification.rawValue, service: "review", payload: c)
    }

    /// Opens and classifies `count` cases, so that only their decisions remain to be sent.
    static func prepare(_ count: Int, prefix: String, config: ZhifaConfiguration, producer: KafkaProducer) async throws -> [(issued: CloudEvent, entryId: String)] {
        var out: [(CloudEvent, String)] = []
        for n in 0..<count {
            let c = simpleCase(n, prefix: prefix)
            try await producer.enqueue(CloudEventKafka.record(for: c.opened, topic: config.topics.events))
            try await producer.enqueue(try classification(c.caseId, n, prefix: prefix, topic: config.topics.review))
            out.append((c.issued, c.entryId))
        }
        try await producer.flush(timeout: .seconds(120))
        return out
    }

    public static func run(config base: ZhifaConfiguration, rate: Int, seconds: Int, backlog: Int, log: @escaping @Sendable (String) -> Void) async throws -> Result {
        let logger = ServiceBench.quietLogger
        var config = base
        config.http.publicityPort = 0
        let cluster = try ServiceBench.cluster(config)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zhifa-bench-publicity-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let context = ServiceContext(name: "publicity", config: config, bootstrap: cluster.bootstrapServers, dataDirectory: try DataDirectory(path: dir.path), logger: logger)
        let services = try await PublicityService.make(context: context)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let task = Task { try await group.run() }
        let port = await context.listening.value
        let base = "http://\(config.http.host):\(port)"
        let producer = try KafkaProducer(configuration: config.producerConfiguration(bootstrap: cluster.bootstrapServers, role: "bench"), logger: logger)
        let published = { ServiceBench.metricSum(context.metrics, "zhifa_publicity_feed_changes_total") }
        let consumed = { ServiceBench.metricSum(context.metrics, "zhifa_worker_processed_total") }

        // Warm up: one decision through, so the consumer group is joined.
        let warm = try await prepare(1, prefix: "W", config: config, producer: producer)
        _ = try await producer.send(CloudEventKafka.record(for: warm[0].issued, topic: config.topics.events))
        try await ServiceBench.until("the first publication", .seconds(60)) { published() >= 1 }

        // Latency at a steady rate.
        let count = rate * seconds
        let steady = try await prepare(count, prefix: "L", config: config, producer: producer)
        try await ServiceBench.until("the latency phase's events consumed", .seconds(120)) { consumed() >= Double(2 * count + 2) }
        let sentAt = Mutex<[String: ContinuousClock.Instant]>([:])
        let feedSeen = Mutex<[String: ContinuousClock.Instant]>([:])
        let stream = FeedStreamClient()
        try await stream.open(base + "/events")
        let poller = Task {
            let http = FeedPoller()
            var etag: String?
            while !Task.isCancelled {
                guard let (items, tag) = try? await http.feed(base + "/feed.json", etag: etag) else { continue }
                etag = tag
                let now = ContinuousClock.now
                feedSeen.withLock { seen in for id in items where seen[id] == nil { seen[id] = now } }
            }
        }
        let interval = Duration.nanoseconds(1_000_000_000 / Int64(max(rate, 1)))
        var next = ContinuousClock.now
        for (issued, entryId) in steady {
            next = next + interval
            if next > .now { try await Task.sleep(until: next, clock: .continuous) }
            sentAt.withLock { $0[entryId] = .now }
            try await producer.enqueue(CloudEventKafka.record(for: issued, topic: config.topics.events))
        }
        try await producer.flush()
        let ids = steady.map(\.entryId)
        try await ServiceBench.until("every measured decision on /feed.json", .seconds(120)) { feedSeen.withLock { s in ids.allSatisfy { s[$0] != nil } } }
        try await ServiceBench.until("every measured decision pushed on /events", .seconds(30)) { Set(stream.received.filter { $0.event == "published" }.compactMap(entryId(of:))).isSuperset(of: ids) }
        poller.cancel()
        let sent = sentAt.withLock { $0 }
        let seen = feedSeen.withLock { $0 }
        let pushed = Dictionary(stream.received.filter { $0.event == "published" }.compactMap { e in entryId(of: e).map { ($0, e.receivedAt) } }, uniquingKeysWith: { a, _ in a })
        func ms(_ a: ContinuousClock.Instant, _ b: ContinuousClock.Instant) -> Double { Double((b - a) / .microseconds(1)) / 1000 }
        let feedLat = ids.compactMap { id in sent[id].flatMap { s in seen[id].map { ms(s, $0) } } }.sorted()
        let pushLat = ids.compactMap { id in sent[id].flatMap { s in pushed[id].map { ms(s, $0) } } }.sorted()
        await stream.close()
        log(String(format: "[publicity] at %d decisions/s for %ds: issued → /feed.json p50 %.1f ms p99 %.1f ms; → /events p50 %.1f ms p99 %.1f ms (%d decisions)",
                   rate, seconds, BenchSupport.percentile(feedLat, 0.5), BenchSupport.percentile(feedLat, 0.99),
                   BenchSupport.percentile(pushLat, 0.5), BenchSupport.percentile(pushLat, 0.99), ids.count))

        // Throughput at full speed: a backlog of issued decisions, cases opened and classified beforehand.
        let full = try await prepare(backlog, prefix: "T", config: config, producer: producer)
        let before = published()
        try await ServiceBench.until("the backlog consumed", .seconds(300)) { consumed() >= Double(2 * count + 2 + 2 * backlog) }
        let t0 = ContinuousClock.now
        for (issued, _) in full { try await producer.enqueue(CloudEventKafka.record(for: issued, topic: config.topics.events)) }
        try await producer.flush(timeout: .seconds(120))
        try await ServiceBench.until("the backlog published", .seconds(300)) { published() - before >= Double(backlog) }
        let secs = Double((ContinuousClock.now - t0) / .microseconds(1)) / 1e6
        let tput = Double(backlog) / secs
        log(String(format: "[publicity] backlog of %d decisions published at %.0f decisions/s", backlog, tput))

        await producer.close()
        await group.triggerGracefulShutdown()
        try await task.value
        await cluster.shutdown()
        return Result(rate: rate, decisions: ids.count, feedP50Ms: BenchSupport.percentile(feedLat, 0.5), feedP99Ms: BenchSupport.percentile(feedLat, 0.99),
                      streamP50Ms: BenchSupport.percentile(pushLat, 0.5), streamP99Ms: BenchSupport.percentile(pushLat, 0.99), throughputPerSecond: tput,
                      peakRSSMB: BenchSupport.peakRSSMB())
    }

    static func entryId(of e: ServerSentEvent) -> String? {
        (try? JSONParser.parse(e.data))?["id"]?.stringValue
    }
}

/// A minimal feed reader for the benchmark: item ids of `/feed.json`, with conditional GET.
struct FeedPoller {
    func feed(_ url: String, etag: String?) async throws -> ([String], String?) {
        var request = HTTPClientRequest(url: url)
        if let etag { request.headers.add(name: "If-None-Match", value: etag) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 16 << 20)
        let tag = response.headers.first(name: "ETag")
        guard response.status == .ok, let items = try JSONParser.parse(Array(body.readableBytesView))["items"]?.arrayValue else { return ([], tag ?? etag) }
        return (items.compactMap { $0["id"]?.stringValue }, tag)
    }
}
