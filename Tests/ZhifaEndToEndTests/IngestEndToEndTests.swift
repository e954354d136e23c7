import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// An ingest process on a test-hosted embedded cluster.
struct IngestUnderTest {
    let process: ZhifaProcess
    let url: String
    let client: IngestClient

    static func start(cluster: EmbeddedKafkaCluster, dataDir: URL, env: [String: String] = [:]) async throws -> IngestUnderTest {
        let p = try ZhifaProcess(["ingest", "--data-dir", dataDir.path],
                                 environment: ["ZHIFA_KAFKA_BROKERS": cluster.bootstrapServers, "ZHIFA_HTTP_PORTS_INGEST": "0"].merging(env) { $1 })
        let url = try await p.url(of: "ingest")
        return IngestUnderTest(process: p, url: url, client: IngestClient(baseURL: url, configDirectory: repositoryRoot.appendingPathComponent("config")))
    }

    func stop() async {
        await client.close()
        await process.stop()
    }
}

func signer(_ bytes: [UInt8]) -> String {
    TerminalDevice.signer(for: try? StructuredCloudEvent.parse(bytes)) ?? "SYS-WQ-DWGZ-ZHZF"
}

@Suite("Ingest end to end through the zhifa binary", .serialized)
struct IngestEndToEndTests {
    @Test("every example is accepted once and lands on the topic with key, headers and data byte-exact; duplicates are stored once")
    func examplesFlowToTheTopic() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let ingest = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        let examples = files(in: contractDirectory.appendingPathComponent("examples"))
        for f in examples {
            let bytes = Array(try Data(contentsOf: f))
            let r = try await ingest.client.send(bytes, deviceId: signer(bytes))
            #expect(r.status == 202, "\(f.lastPathComponent): \(String(decoding: r.body, as: UTF8.self))")
            #expect((r.json as? [String: Any])?["status"] as? String == "accepted")
        }
        for f in examples.prefix(3) {
            let bytes = Array(try Data(contentsOf: f))
            let r = try await ingest.client.send(bytes, deviceId: signer(bytes))
            #expect(r.status == 200)
            #expect((r.json as? [String: Any])?["status"] as? String == "duplicate")
        }
        var messages: [KafkaConsumerMessage] = []
        try await eventually("17 events on the topic") {
            messages = try await readTopic("zhifa.events.v1", bootstrap: cluster.bootstrapServers)
            return messages.count >= 17
        }
        #expect(messages.count == 17)
        for f in examples {
            let bytes = Array(try Data(contentsOf: f))
            let event = try StructuredCloudEvent.parse(bytes)
            let m = try #require(messages.first { $0.headers.text("ce_id") == event.id }, "\(event.id) on the topic")
            #expect(m.keyText == event.caseId)
            #expect(m.headers.text("ce_specversion") == "1.0")
            #expect(m.headers.text("ce_source") == event.source)
            #expect(m.headers.text("ce_type") == event.type)
            #expect(m.headers.text("ce_time") == event.time)
            #expect(m.headers.text("content-type") == "application/json")
            #expect(m.value == event.data, "value is the data member, byte-exact")
            #expect(m.value == Array(JSONRawMembers.members(of: bytes)!["data"]!))
        }
        // Per case, the topic keeps the order they were sent in.
        let general = messages.filter { $0.keyText == "WQ-DWGZ-2024-0012" }.map { $0.headers.text("ce_id")! }
        #expect(general == examples.filter { $0.lastPathComponent.hasPrefix("general") }.map { try! StructuredCloudEvent.parse(Array(Data(contentsOf: $0))).id })
        let db = try DatabaseQueue(path: dir.url.appendingPathComponent("ingest-outbox.sqlite").path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        #expect(try await db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") } == 17)
        let ready = try await ingest.client.get("/readyz")
        #expect(ready.status == 200)
        #expect(try await ingest.client.get("/healthz").status == 200)
        let metrics = String(decoding: try await ingest.client.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains("zhifa_ingest_events_total{outcome=\"accepted\"} 17"))
        #expect(metrics.contains("zhifa_ingest_events_total{outcome=\"duplicate\"} 3"))
        await ingest.stop()
        await cluster.shutdown()
    }

    @Test("bad input gets a clear 4xx problem naming the field, and nothing is stored")
    func badInput() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let ingest = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        for f in files(in: contractDirectory.appendingPathComponent("bad")) {
            let bytes = Array(try Data(contentsOf: f))
            let r = try await ingest.client.send(bytes, deviceId: "SYS-WQ-DWGZ-ZHZF")
            let problem = try #require(r.json as? [String: Any], "\(f.lastPathComponent) answers a JSON problem")
            if f.lastPathComponent == "not-json.json" {
                #expect(r.status == 400)
            } else {
                #expect(r.status == 422, "\(f.lastPathComponent)")
                let pointers = (problem["errors"] as? [[String: Any]] ?? []).compactMap { $0["pointer"] as? String }
                #expect(!pointers.isEmpty, "\(f.lastPathComponent) names the field")
            }
            #expect(problem["status"] as? Int == r.status)
            #expect(problem["title"] != nil && problem["detail"] != nil)
        }
        let example = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/simple-13-case-opened.json")))
        let wrongType = try await ingest.client.post("/v1/events", body: example, deviceId: "PDA-0031", contentType: "application/json")
        #expect(wrongType.status == 415)
        let huge = Array(repeating: UInt8(ascii: " "), count: 2 << 20) + example
        let tooBig = try await ingest.client.post("/v1/events", body: huge, deviceId: "PDA-0031", contentType: "application/cloudevents+json")
        #expect(tooBig.status == 413)
        // Personal data in the rejected event is never echoed.
        let idNumber = "120222199001011234"
        var withBadPhone = String(decoding: example, as: UTF8.self)
        withBadPhone = withBadPhone.replacingOccurrences(of: "\"13900001111\"", with: "13900001111")
        let r = try await ingest.client.send(Array(withBadPhone.utf8), deviceId: "PDA-0031")
        #expect(r.status == 422)
        #expect(!String(decoding: r.body, as: UTF8.self).contains("13900001111"))
        #expect(!String(decoding: r.body, as: UTF8.self).contains(idNumber))
        #expect(!ingest.process.errorOutput.contains(idNumber) && !ingest.process.errorOutput.contains("13900001111"))
        // A batch answers per event, in order.
        let good = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/general-major-00-case-opened.json")))
        let bad = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("bad/missing-caseId.json")))
        let batch = try await ingest.client.sendBatch([good, bad, good], deviceId: "SYS-WQ-DWGZ-ZHZF")
        #expect(batch.status == 200)
        let results = try #require((batch.json as? [String: Any])?["results"] as? [[String: Any]])
        #expect(results.map { $0["status"] as? Int } == [202, 422, 200])
        #expect(results.map { $0["id"] as? String } == ["evt-0001", "bad-missing-caseId", "evt-0001"])
        let batchProblem = try #require(results[1]["problem"] as? [String: Any])
        #expect(((batchProblem["errors"] as? [[String: Any]])?.first?["pointer"] as? String) == "/1/data/caseId")
        let db = try DatabaseQueue(path: dir.url.appendingPathComponent("ingest-outbox.sqlite").path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        #expect(try await db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") } == 1)
        // Media types are case-insensitive and may carry parameters; the answer names the event.
        let exampleId = (try JSONSerialization.jsonObject(with: Data(example)) as? [String: Any])?["id"] as? String
        let parameterised = try await ingest.client.post("/v1/events", body: example, deviceId: "SYS-WQ-DWGZ-ZHZF",
                                                         contentType: " Application/CloudEvents+JSON ; charset=utf-8")
        #expect(parameterised.status == 202)
        let acknowledgement = parameterised.json as? [String: Any]
        #expect(acknowledgement?["id"] as? String == exampleId)
        #expect(acknowledgement?["status"] as? String == "accepted")
        #expect(try await db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") } == 2)
        await ingest.stop()
        await cluster.shutdown()
    }

    @Test("unsigned, wrongly signed, stale, unknown-device and cross-agency requests are refused")
    func deviceAuthentication() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let ingest = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        let opened = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/general-major-00-case-opened.json")))
        let act = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/general-major-01-action-recorded.json")))
        let ct = "application/cloudevents+json"
        let unsigned = try await ingest.client.post("/v1/events", body: opened, deviceId: nil, contentType: ct)
        #expect(unsigned.status == 401)
        // Signed by DSJ-0001's key but claiming to be DSJ-0002.
        let other = try await ingest.client.post("/v1/events", body: opened, deviceId: "DSJ-0001", contentType: ct, extraHeaders: [("X-Zhifa-Device", "DSJ-0002")])
        #expect(other.status == 401)
        // Body changed after signing.
        let tampered = try await ingest.client.post("/v1/events", body: opened, deviceId: "DSJ-0001", contentType: ct,
                                                    extraHeaders: [("X-Zhifa-Signature", "AAAA" + String(repeating: "A", count: 84))])
        #expect(tampered.status == 401)
        let stale = try await ingest.client.post("/v1/events", body: opened, deviceId: "SYS-WQ-DWGZ-ZHZF", contentType: ct, signedAt: Date().addingTimeInterval(-600))
        #expect(stale.status == 401)
        let unknown = try await ingest.client.post("/v1/events", body: opened, deviceId: "DSJ-0001", contentType: ct, extraHeaders: [("X-Zhifa-Device", "DSJ-9999")])
        #expect(unknown.status == 401)
        #expect((unsigned.json as? [String: Any])?["status"] as? Int == 401)
        // Another agency's device may not open this agency's case…
        let crossOpen = try await ingest.client.send(opened, deviceId: "PDA-9001")
        #expect(crossOpen.status == 403)
        // …and once the case is opened by its own agency, may not add to it.
        #expect(try await ingest.client.send(opened, deviceId: "SYS-WQ-DWGZ-ZHZF").status == 202)
        #expect(try await ingest.client.send(act, deviceId: "PDA-9001").status == 403)
        #expect(try await ingest.client.send(act, deviceId: "PDA-0031").status == 202)
        // Events of cases the ingest has not seen are accepted from any registered device.
        let unseen = Array(try Data(contentsOf: contractDirectory.appendingPathComponent("examples/simple-14-action-recorded.json")))
        #expect(try await ingest.client.send(unseen, deviceId: "PDA-9001").status == 202)
        await ingest.stop()
        await cluster.shutdown()
    }

    @Test("an ingest killed with SIGKILL during a 2,000-event burst loses no accepted event")
    func sigkillDuringBurst() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let config = try testConfiguration()
        var sim = TownSimulator(rules: try RulesLoader.load(config.rules), settings: config.simulator, seed: 42, start: ChinaTime.startOfDay(CalendarDay(year: 2024, month: 6, day: 3)))
        var generated = try sim.generate(cases: 400)
        var total = generated.reduce(0) { $0 + $1.events.count }
        while total > 2_100 { total -= generated.removeLast().events.count }
        let cases = generated
        #expect(total >= 1_900)
        let accepted = Recorder<String>()
        let first = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        let remaining = Recorder<SimulatedEvent>()
        let killed = OnceFlag()
        // 16 cases at a time; each case in order; a case stops at its first failed request.
        let next = IndexDispenser()
        try await withThrowingTaskGroup(of: Void.self) { g in
            for _ in 0..<16 {
                g.addTask {
                    while let i = next.take(below: cases.count) {
                        var failed = false
                        for e in cases[i].events {
                            // Once the ingest is gone, keep the rest for after the restart (as a terminal queues).
                            if failed || killed.isSet { failed = true; remaining.append(e); continue }
                            do {
                                let r = try await first.client.send(StructuredCloudEvent.serialize(e.event), deviceId: e.deviceId)
                                if r.status == 202 { accepted.append(e.event.id) } else { failed = true; remaining.append(e) }
                            } catch {
                                failed = true
                                remaining.append(e)
                            }
                            if accepted.count >= 700, killed.setOnce() { first.process.signal(SIGKILL) }
                        }
                    }
                }
            }
            try await g.waitForAll()
        }
        #expect(killed.isSet, "the ingest was killed mid-burst")
        _ = try await first.process.waitForExit()
        let atKill = accepted.count
        #expect(atKill < total, "events were still being sent when it died")
        let second = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        // Re-send what got no 202, case by case in order, 16 cases at a time.
        var byCase: [String: [SimulatedEvent]] = [:]
        var order: [String] = []
        for e in remaining.all {
            let c = e.event.caseId ?? ""
            if byCase[c] == nil { order.append(c) }
            byCase[c, default: []].append(e)
        }
        let lanes = order.map { byCase[$0]! }
        let resend = IndexDispenser()
        try await withThrowingTaskGroup(of: Void.self) { g in
            for _ in 0..<16 {
                g.addTask {
                    while let i = resend.take(below: lanes.count) {
                        for e in lanes[i] {
                            let r = try await second.client.send(StructuredCloudEvent.serialize(e.event), deviceId: e.deviceId)
                            if r.status == 202 || r.status == 200 { accepted.append(e.event.id) } else { Issue.record("unexpected \(r.status) on re-send") }
                        }
                    }
                }
            }
            try await g.waitForAll()
        }
        let expected = Set(accepted.all)
        #expect(expected.count == total)
        var onTopic = Set<String>()
        try await eventually("every accepted event on the topic", timeout: .seconds(90)) {
            onTopic = Set(try await readTopic("zhifa.events.v1", bootstrap: cluster.bootstrapServers).compactMap { $0.headers.text("ce_id") })
            return expected.isSubset(of: onTopic)
        }
        #expect(expected.isSubset(of: onTopic))
        await first.client.close()
        await second.stop()
        await cluster.shutdown()
    }

    @Test("while Kafka is down, accepted events wait in the outbox and flow when it returns")
    func kafkaOutage() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let ingest = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        try await eventually("ready") { try await ingest.client.get("/readyz").status == 200 }
        try cluster.setBrokerDown(1)
        try await eventually("readiness reports the broker") { try await ingest.client.get("/readyz").status == 503 }
        let config = try testConfiguration()
        var sim = TownSimulator(rules: try RulesLoader.load(config.rules), settings: config.simulator, seed: 9, start: ChinaTime.startOfDay(CalendarDay(year: 2024, month: 9, day: 2)))
        let events = try sim.generate(cases: 8).flatMap(\.events)
        for e in events {
            let r = try await ingest.client.send(StructuredCloudEvent.serialize(e.event), deviceId: e.deviceId)
            #expect(r.status == 202)
        }
        let db = try DatabaseQueue(path: dir.url.appendingPathComponent("ingest-outbox.sqlite").path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        #expect(try await db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE state = 0") } == events.count, "stored, not yet delivered")
        try cluster.setBrokerUp(1)
        let ids = Set(events.map(\.event.id))
        try await eventually("the waiting events reach the topic", timeout: .seconds(90)) {
            Set(try await readTopic("zhifa.events.v1", bootstrap: cluster.bootstrapServers).compactMap { $0.headers.text("ce_id") }) == ids
        }
        try await eventually("deliveries recorded") {
            try await db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox WHERE state = 1") } == events.count
        }
        await ingest.stop()
        await cluster.shutdown()
    }
}

/// Hands out indices to tasks.
final class IndexDispenser: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below n: Int) -> Int? { lock.withLock { guard value < n else { return nil }; defer { value += 1 }; return value } }
}

/// True once.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    func setOnce() -> Bool { lock.withLock { if set { return false }; set = true; return true } }
    var isSet: Bool { lock.withLock { set } }
}
