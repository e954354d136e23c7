import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// A publicity process on a test-hosted cluster.
struct PublicityUnderTest {
    let process: ZhifaProcess
    let url: String
    let http = HTTPTestClient()
    let dataDir: TemporaryDirectory

    static func start(cluster: EmbeddedKafkaCluster, env: [String: String] = [:]) async throws -> PublicityUnderTest {
        let dir = try TemporaryDirectory()
        let p = try ZhifaProcess(["publicity", "--data-dir", dir.url.path],
                                 environment: ["ZHIFA_KAFKA_BROKERS": cluster.bootstrapServers, "ZHIFA_HTTP_PORTS_PUBLICITY": "0", "ZHIFA_LOG_LEVEL": "info"].merging(env) { $1 })
        return PublicityUnderTest(process: p, url: try await p.url(of: "publicity"), dataDir: dir)
    }

    func items() async throws -> [[String: Any]] { try await http.get(url + "/feed.json").json?["items"] as? [[String: Any]] ?? [] }

    func item(_ id: String) async throws -> [String: Any]? { try await items().first { $0["id"] as? String == id } }

    func text(_ path: String, accept: String? = nil) async throws -> String {
        let r = try await http.get(url + path, headers: accept.map { [("Accept", $0)] } ?? [])
        return String(decoding: r.body, as: UTF8.self)
    }

    func stop() async {
        await http.close()
        await process.stop()
        dataDir.cleanup()
    }
}

/// A `decision.revoked` event (structured mode) for a case.
func revocationEvent(id: String, caseId: String, decisionId: String, reason: String, change: String = "revoked") throws -> CloudEvent {
    let json: JSONValue = .object(JSONObject([
        ("specversion", .string("1.0")), ("id", .string(id)), ("source", .string("urn:zhifa:agency:WQ-DWGZ-ZHZF")),
        ("type", .string("cn.zhifa.decision.revoked.v1")), ("time", .string("2024-08-01T10:00:00+08:00")),
        ("datacontenttype", .string("application/json")),
        ("data", .object(JSONObject([("caseId", .string(caseId)), ("decisionId", .string(decisionId)), ("change", .string(change)),
                                     ("at", .string("2024-08-01T10:00:00+08:00")), ("reason", .string(reason))]))),
    ]))
    let bytes = Array(json.jsonText.utf8)
    guard case .valid = EventValidator.contract.validate(json) else { throw TimedOut(description: "the revocation breaks the contract") }
    return try StructuredCloudEvent.parse(bytes)
}

/// Every personal detail in a set of events: what must never be published.
func personalDetails(_ events: [CloudEvent]) throws -> [String] {
    var out: [String] = []
    for ce in events {
        switch try EnforcementEvent.decode(ce).payload {
        case .caseOpened(let o):
            let p = o.party
            out += [p.idNumber, p.phone, p.bankAccount, p.legalRepresentative, p.birthDate?.description].compactMap { $0 }
            if p.kind != .organisation {
                // A person's name and house address (an organisation's seat is public).
                out += [p.name, p.address].compactMap { $0 }
                if let a = p.address, let house = a.range(of: #"[0-9]+排[0-9]+号"#, options: .regularExpression) { out.append(String(a[house])) }
            }
        case .actionRecorded(let a):
            if let w = a.witness { out.append(w) }
        default: break
        }
    }
    return out.filter { !$0.isEmpty }
}

@Suite("Publicity end to end through the zhifa binary", .serialized)
struct PublicityEndToEndTests {
    @Test("simple decision on every feed as 王某某; the major one only after approval; revocation withdraws it everywhere; nothing personal anywhere")
    func examples() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        let publicity = try await PublicityUnderTest.start(cluster: cluster)
        let stream = FeedStreamClient()
        try await stream.open(publicity.url + "/events")
        let examples = try ExampleEvents.all()
        try await ExampleEvents.send(examples, bootstrap: cluster.bootstrapServers)

        let simpleId = "WQ-DWGZ-ZHZF.DEC-S-0088"
        let majorId = "WQ-DWGZ-ZHZF.DEC-0012"
        var simple: [String: Any] = [:]
        try await eventually("the simple decision on /feed.json", timeout: .seconds(60)) {
            simple = try await publicity.item(simpleId) ?? [:]
            return !simple.isEmpty
        }
        #expect((simple["title"] as? String)?.contains("王某某") == true)
        #expect((simple["content_text"] as? String)?.contains("当事人：王某某") == true)
        let z = simple["_zhifa"] as? [String: Any] ?? [:]
        #expect(z["status"] as? String == "published")
        #expect(z["decisionId"] as? String == "DEC-S-0088")
        #expect(z["dueAt"] as? String == "2024-07-11", "2 July 2024 + 7 working days")
        #expect(z["provisionalDue"] as? Bool == false)
        #expect(z["publishedAt"] as? String != nil)

        // The major decision waits for the reviewer's approval, and the report says so.
        try await eventually("DEC-0012 held for approval") {
            let held = try await publicity.http.get(publicity.url + "/v1/publicity/overdue").json?["held"] as? [[String: Any]] ?? []
            return held.contains { $0["decisionId"] as? String == "DEC-0012" && $0["reason"] as? String == "awaitingApproval" }
        }
        #expect(try await publicity.item(majorId) == nil, "a major decision is not published before approval")
        let token = try await review.token("REV-DWGZ-01")
        try await eventually("a task", timeout: .seconds(60)) { try await review.tasks(token).count == 1 }
        let claimed = try await review.http.post(review.url + "/v1/review/tasks/claim", token: token)
        let taskId = try #require(claimed.json?["taskId"] as? String)
        let approved = try await review.http.post(review.url + "/v1/review/tasks/\(taskId)/opinion", token: token, json: ["opinion": "approve"])
        #expect(approved.status == 200)
        try await eventually("the approved major decision on /feed.json", timeout: .seconds(60)) { try await publicity.item(majorId) != nil }
        let major = try #require(try await publicity.item(majorId))
        #expect((major["content_text"] as? String)?.contains("法定代表人：赵某某") == true)
        #expect((major["content_text"] as? String)?.contains("91120222MA05K1234X") == true, "organisations keep their credit code")

        // Conditional GET and CORS.
        let first = try await publicity.http.get(publicity.url + "/feed.json")
        #expect(first.header("Access-Control-Allow-Origin") == "*")
        #expect(first.header("Content-Type")?.hasPrefix("application/feed+json") == true)
        let etag = try #require(first.header("ETag"))
        let lastModified = try #require(first.header("Last-Modified"))
        #expect(try await publicity.http.get(publicity.url + "/feed.json", headers: [("If-None-Match", etag)]).status == 304)
        #expect(try await publicity.http.get(publicity.url + "/feed.atom", headers: [("If-Modified-Since", lastModified)]).status == 304)

        // Revocation: the same entry id, withdrawn, with the reason, on every feed.
        let published = try #require(stream.received.first { $0.event == "published" && $0.data.contains("\"\(majorId)\"") })
        try await ExampleEvents.send([try revocationEvent(id: "evt-revoke-0012", caseId: "WQ-DWGZ-2024-0012", decisionId: "DEC-0012",
                                                          reason: "经行政复议，原决定认定事实不清，予以撤销")], bootstrap: cluster.bootstrapServers)
        var withdrawn: [String: Any] = [:]
        try await eventually("the withdrawal on /feed.json") {
            withdrawn = try await publicity.item(majorId) ?? [:]
            return (withdrawn["_zhifa"] as? [String: Any])?["status"] as? String == "withdrawn"
        }
        #expect((withdrawn["title"] as? String)?.hasPrefix("【已撤回】") == true)
        let wz = withdrawn["_zhifa"] as? [String: Any] ?? [:]
        #expect((wz["reason"] as? String)?.contains("原决定认定事实不清") == true)
        #expect(wz["withdrawnAt"] as? String != nil)
        #expect((withdrawn["content_text"] as? String)?.contains("原决定认定事实不清") == true)
        #expect(try await publicity.http.get(publicity.url + "/feed.json", headers: [("If-None-Match", etag)]).status == 200, "a change makes a new ETag")

        // Atom through feedparser, JSON Feed against the specification.
        let check = try await runProgram("/usr/bin/env", ["python3", repositoryRoot.appendingPathComponent("Tests/Tools/feed_check.py").path, publicity.url])
        try #require(check.status == 0, "feed_check: \(check.stdout) \(check.stderr.suffix(2_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [String: Any])
        let atom = seen["atom"] as? [[String: Any]] ?? []
        let atomMajor = try #require(atom.first { $0["id"] as? String == "urn:zhifa:publicity:\(majorId)" })
        #expect((atomMajor["categories"] as? [String])?.contains("withdrawn") == true)
        #expect((atomMajor["summary"] as? String)?.contains("原决定认定事实不清") == true)
        #expect((atomMajor["title"] as? String)?.hasPrefix("【已撤回】") == true)
        #expect((atomMajor["updated"] as? String ?? "") > (atomMajor["published"] as? String ?? "~"), "the withdrawal has a newer <updated>")
        let atomSimple = try #require(atom.first { $0["id"] as? String == "urn:zhifa:publicity:\(simpleId)" })
        #expect((atomSimple["categories"] as? [String])?.contains("published") == true)
        #expect(seen["jsonItems"] as? Int == 2)

        // HTML list and entry pages.
        let page = try await publicity.text("/")
        #expect(page.contains("data-entry-id=\"\(majorId)\" data-status=\"withdrawn\""))
        #expect(page.contains("data-entry-id=\"\(simpleId)\" data-status=\"published\""))
        #expect(page.contains("【已撤回】"))
        #expect(page.contains("王某某"))
        let entryHTML = try await publicity.text("/entries/\(majorId)")
        #expect(entryHTML.contains("【已撤回】") && entryHTML.contains("原决定认定事实不清"))
        let entryJSON = try await publicity.http.get(publicity.url + "/entries/\(majorId)", headers: [("Accept", "application/json")])
        #expect((entryJSON.json?["_zhifa"] as? [String: Any])?["status"] as? String == "withdrawn")
        #expect(try await publicity.text("/?agency=WQ-HXW-ZHZF").contains("共 0 条"))
        #expect(try await publicity.text("/?category=penalty&from=2024-07-01").contains("共 1 条"))
        let badFilter = try await publicity.http.get(publicity.url + "/?from=yesterday")
        #expect(badFilter.status == 400)
        #expect(badFilter.header("Content-Type")?.hasPrefix("application/problem+json") == true)
        #expect(try await publicity.http.get(publicity.url + "/entries/no-such-entry").status == 404)

        // The live stream: published, then withdrawn, with ids; a client resumes after an id.
        try await eventually("the withdrawal on /events") { stream.received.contains { $0.event == "withdrawn" && $0.data.contains("\"\(majorId)\"") } }
        let live = stream.received
        #expect(live.allSatisfy { $0.id.flatMap(Int64.init) != nil }, "every event has an id: line")
        #expect(live.map(\.event) == ["published", "published", "withdrawn"])
        let resumed = FeedStreamClient()
        try await resumed.open(publicity.url + "/events", lastEventId: published.id)
        try await eventually("the resumed stream replays the withdrawal") { resumed.received.count == 1 }
        #expect(resumed.received.first?.event == "withdrawn")
        #expect(resumed.received.first?.id == live.last?.id)
        await resumed.close()

        // Every publication, update and withdrawal on zhifa.publicity.v1, keyed by case.
        var out: [KafkaConsumerMessage] = []
        try await eventually("three events on zhifa.publicity.v1") {
            out = try await readTopic("zhifa.publicity.v1", bootstrap: cluster.bootstrapServers)
            return out.count >= 3
        }
        #expect(Set(out.compactMap { $0.headers.text("ce_type") }) == ["cn.zhifa.publicity.published.v1", "cn.zhifa.publicity.withdrawn.v1"])
        #expect(out.allSatisfy { $0.keyText == "WQ-DWGZ-2024-0012" || $0.keyText == "WQ-DWGZ-2024-S-0088" })

        // No personal detail in any output: feeds, pages, stream, topic, report, logs.
        var outputs = [try await publicity.text("/feed.json"), try await publicity.text("/feed.atom"), page, entryHTML,
                       try await publicity.text("/entries/\(simpleId)"), try await publicity.text("/entries/\(simpleId)", accept: "application/json"),
                       try await publicity.text("/v1/publicity/overdue"), try await publicity.text("/metrics"), publicity.process.errorOutput]
        outputs += live.map(\.data)
        outputs += out.map { String(decoding: $0.value ?? [], as: UTF8.self) }
        let secrets = try personalDetails(examples)
        #expect(secrets.contains("120222199001011234") && secrets.contains("13900001111") && secrets.contains("王小明"))
        for secret in secrets {
            for (i, o) in outputs.enumerated() { #expect(!o.contains(secret), "\(secret) appears in output \(i)") }
        }
        await stream.close()
        await publicity.stop()
        await review.stop()
        await cluster.shutdown()
    }

    @Test("a deadline running into 2027 is provisional and weekends-only, alerts until 2027's calendar is loaded, then is recomputed")
    func provisionalDeadline() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let calendars = try TemporaryDirectory()
        for y in 2023...2026 {
            try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("config/calendars/holiday-cn/\(y).json"),
                                             to: calendars.url.appendingPathComponent("\(y).json"))
        }
        let publicity = try await PublicityUnderTest.start(cluster: cluster, env: [
            "ZHIFA_RULES_CALENDAR_DIRECTORY": calendars.url.path, "ZHIFA_PUBLICITY_CALENDAR_RELOAD_SECONDS": "1",
        ])
        let stream = FeedStreamClient()
        try await stream.open(publicity.url + "/events")
        // The simple case, its decision issued on Monday 28 December 2026.
        let events = try ExampleEvents.named("simple").map { ce -> CloudEvent in
            guard ce.type == "cn.zhifa.decision.issued.v1" else { return ce }
            var v = try JSONParser.parse(StructuredCloudEvent.serialize(ce))
            v = v.set("data.issuedAt", .string("2026-12-28T10:00:00+08:00"))
            return try StructuredCloudEvent.parse(Array(v.jsonText.utf8))
        }
        try await ExampleEvents.send(events, bootstrap: cluster.bootstrapServers)
        // The review service's classification, as it would publish it.
        let classification = ReviewClassificationEvent(caseId: "WQ-DWGZ-2024-S-0088", decisionId: "DEC-S-0088", agencyId: "WQ-DWGZ-ZHZF", major: false,
                                                       reasons: [], trigger: .issued, basedOn: ["evt-0024"])
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: KafkaClientSettings(bootstrapServers: cluster.bootstrapServers, clientId: "test-review")), logger: testLogger())
        _ = try await producer.send(try InternalEvents.record(topic: "zhifa.review.v1", key: "WQ-DWGZ-2024-S-0088", id: "review-classification-test-1",
                                                              type: ReviewEventType.classification.rawValue, service: "review", payload: classification))
        await producer.close()

        let id = "WQ-DWGZ-ZHZF.DEC-S-0088"
        var z: [String: Any] = [:]
        try await eventually("the entry on /feed.json", timeout: .seconds(60)) {
            z = try await publicity.item(id)?["_zhifa"] as? [String: Any] ?? [:]
            return !z.isEmpty
        }
        #expect(z["dueAt"] as? String == "2027-01-06", "weekends only: 29–31 Dec, 1 Jan (a Friday, counted), 4–6 Jan")
        #expect(z["provisionalDue"] as? Bool == true)
        var ready: HTTPTestClient.Reply? = nil
        try await eventually("/readyz to report the provisional calendar") {
            ready = try await publicity.http.get(publicity.url + "/readyz")
            return (ready?.json?["degraded"] as? [String])?.contains { $0.contains("2027") } == true
        }
        #expect(ready?.status == 200, "degraded, still ready")
        #expect(ready?.json?["status"] as? String == "ready")
        #expect(try await publicity.text("/metrics").contains("zhifa_publicity_provisional_deadlines 1"))
        #expect(publicity.process.errorOutput.contains("without an official working-day calendar"))
        let report = try await publicity.http.get(publicity.url + "/v1/publicity/overdue").json
        #expect((report?["provisional"] as? [String: Any])?["yearsWithoutData"] as? [Int] == [2027])

        // The State Council publishes 2027: 1 January is a holiday.
        let y2027 = #"{"year": 2027, "papers": [], "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true}]}"#
        try Data(y2027.utf8).write(to: calendars.url.appendingPathComponent("2027.json"))
        try await eventually("the recomputed deadline", timeout: .seconds(30)) {
            z = try await publicity.item(id)?["_zhifa"] as? [String: Any] ?? [:]
            return z["provisionalDue"] as? Bool == false
        }
        #expect(z["dueAt"] as? String == "2027-01-07")
        try await eventually("the update on /events") { stream.received.contains { $0.event == "updated" && $0.data.contains("2027-01-07") } }
        try await eventually("/readyz no longer degraded") {
            (try await publicity.http.get(publicity.url + "/readyz").json?["degraded"] as? [String])?.isEmpty == true
        }
        #expect(try await publicity.text("/metrics").contains("zhifa_publicity_provisional_deadlines 0"))
        await stream.close()
        await publicity.stop()
        calendars.cleanup()
        await cluster.shutdown()
    }

    @Test("the feed page in headless Chromium shows the entries, fits a phone, and shows a withdrawal by itself")
    func browser() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        let publicity = try await PublicityUnderTest.start(cluster: cluster)
        try await ExampleEvents.send(try ExampleEvents.named("simple"), bootstrap: cluster.bootstrapServers)
        let id = "WQ-DWGZ-ZHZF.DEC-S-0088"
        try await eventually("the entry on /feed.json", timeout: .seconds(60)) { try await publicity.item(id) != nil }
        let artifacts = repositoryRoot.appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("publicity-feed.png")
        try? FileManager.default.removeItem(at: shot)
        let browser = try ZhifaProcess(["python3", repositoryRoot.appendingPathComponent("Tests/Tools/feed_page_test.py").path, publicity.url, shot.path, id],
                                       executable: URL(fileURLWithPath: "/usr/bin/env"))
        _ = try await browser.waitForLine("ready", timeout: .seconds(90))
        try await ExampleEvents.send([try revocationEvent(id: "evt-revoke-s-0088", caseId: "WQ-DWGZ-2024-S-0088", decisionId: "DEC-S-0088",
                                                          reason: "当事人已纠正，决定被确认违法", change: "confirmedIllegal")], bootstrap: cluster.bootstrapServers)
        let status = try await browser.waitForExit(timeout: .seconds(90))
        try #require(status == 0, "browser: \(browser.errorOutput.suffix(3_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data((browser.output.last ?? "").utf8)) as? [String: Any])
        let entries = seen["entries"] as? [[String: Any]] ?? []
        #expect(entries.map { $0["id"] as? String } == [id])
        #expect(entries.first?["status"] as? String == "published")
        #expect((entries.first?["text"] as? String)?.contains("王某某") == true)
        #expect((seen["withdrawnLive"] as? String)?.contains("确认违法") == true, "the page showed the withdrawal without a reload")
        #expect(seen["horizontalOverflow"] as? Bool == false, "readable on a phone: no sideways scrolling")
        #expect(FileManager.default.fileExists(atPath: shot.path))
        await publicity.stop()
        await review.stop()
        await cluster.shutdown()
    }
}
