import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime
import ZhifaTerminal

/// An archive process on a test-hosted cluster, with its data directory.
struct ArchiveUnderTest {
    let process: ZhifaProcess
    let url: String
    let http = HTTPTestClient()
    let dataDir: URL

    static func start(cluster: EmbeddedKafkaCluster, dataDir: URL, env: [String: String] = [:]) async throws -> ArchiveUnderTest {
        let p = try ZhifaProcess(["archive", "--data-dir", dataDir.path],
                                 environment: ["ZHIFA_KAFKA_BROKERS": cluster.bootstrapServers, "ZHIFA_HTTP_PORTS_ARCHIVE": "0"].merging(env) { $1 })
        return ArchiveUnderTest(process: p, url: try await p.url(of: "archive"), dataDir: dataDir)
    }

    var storePath: String { dataDir.appendingPathComponent("archive.sqlite").path }

    func stop() async {
        await http.close()
        await process.stop()
    }
}

/// `zhifa archive ARGS --data-dir DIR` (an operator command).
func archiveCommand(_ args: [String], dataDir: URL) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProgram(buildProduct("zhifa").path, ["archive"] + args + ["--data-dir", dataDir.path])
}

/// A bearer token for a registered archivist.
func archivistToken(_ id: String) async throws -> String {
    let r = try await runProgram(buildProduct("zhifa").path, ["archive", "token", "--archivist", id])
    guard r.status == 0 else { throw TimedOut(description: "archive token: \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// One archived message as the test reads it straight from the SQLite file.
struct ArchivedRow: Equatable {
    var eventId: String
    var chain: String
    var sequence: Int64
    var topic: String
    var caseId: String?
    var valid: Bool
    var invalidReason: String?
}

/// Reads the archive's messages (read-only, while the service may be writing).
func archivedRows(_ path: String, topic: String? = nil) throws -> [ArchivedRow] {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    var config = Configuration()
    config.readonly = true
    config.busyMode = .timeout(10)
    let db = try DatabaseQueue(path: path, configuration: config)
    defer { try? db.close() }
    return try db.read { db in
        let sql = "SELECT event_id, chain, seq, topic, case_id, valid, invalid_reason FROM entries WHERE kind = 'message'"
            + (topic == nil ? "" : " AND topic = ?") + " ORDER BY chain, seq"
        let rows = try Row.fetchAll(db, sql: sql, arguments: topic.map { [$0] } ?? [])
        var out: [ArchivedRow] = []
        for r in rows {
            out.append(ArchivedRow(eventId: r["event_id"], chain: r["chain"], sequence: r["seq"], topic: r["topic"], caseId: r["case_id"],
                                   valid: r["valid"], invalidReason: r["invalid_reason"]))
        }
        return out
    }
}

/// Copies a stopped archive's data directory (for independent tamper experiments).
func copyArchive(_ from: URL) throws -> TemporaryDirectory {
    let to = try TemporaryDirectory()
    for name in try FileManager.default.contentsOfDirectory(atPath: from.path) where name.hasPrefix("archive.sqlite") {
        try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: to.url.appendingPathComponent(name))
    }
    return to
}

/// Runs SQL on an archive file directly, as someone with access to the disk would.
func tamperArchive(_ dir: URL, _ sql: String) throws {
    let q = try DatabaseQueue(path: dir.appendingPathComponent("archive.sqlite").path)
    try q.write { try $0.execute(sql: sql) }
    try q.close()
}

@Suite("Archive end to end through the zhifa binary", .serialized)
struct ArchiveEndToEndTests {
    @Test("every example archived once in order; the record, completeness, 四性 verify, tamper detection, packages and the audited HTTP API")
    func examples() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let review = try await ReviewUnderTest.start(cluster: cluster)
        let publicity = try await PublicityUnderTest.start(cluster: cluster)
        let archive = try await ArchiveUnderTest.start(cluster: cluster, dataDir: dir.url)

        // The examples, a copy of the general case with an unexplained 10-minute gap in the sealing,
        // every example again (a terminal's redelivery), and an event that breaks the contract.
        let examples = try ExampleEvents.all()
        let gapCase = try ExampleEvents.generalCopy("GAP", changes: [
            "evt-0006": { $0.set("data.startedAt", .string("2024-05-08T14:54:00+08:00")).remove("data.gapReason") },
        ])
        let bad = try StructuredCloudEvent.parse(Array(Data(contentsOf: contractDirectory.appendingPathComponent("bad/missing-caseId.json"))))
        try await ExampleEvents.send(examples, bootstrap: cluster.bootstrapServers)
        try await ExampleEvents.send(gapCase + examples + [bad], bootstrap: cluster.bootstrapServers)

        // The reviewer approves the general case's major decision, so its opinion and publication follow.
        let reviewer = try await review.token("REV-DWGZ-01")
        // (Two tasks, DEC-0012 and its GAP copy, in either order: claim and approve both.)
        try await eventually("two review tasks", timeout: .seconds(60)) { try await review.tasks(reviewer).count == 2 }
        for _ in 0..<2 {
            let claimed = try await review.http.post(review.url + "/v1/review/tasks/claim", token: reviewer)
            let taskId = try #require(claimed.json?["taskId"] as? String)
            #expect(try await review.http.post(review.url + "/v1/review/tasks/\(taskId)/opinion", token: reviewer, json: ["opinion": "approve"]).status == 200)
        }

        let token = try await archivistToken("ARC-DWGZ-01")
        var record: [String: Any] = [:]
        var seen: [String] = []
        do {
            try await eventually("the general case's record with its review opinion and publication", timeout: .seconds(120)) {
                record = try await archive.http.get(archive.url + "/v1/archive/cases/WQ-DWGZ-2024-0012", token: token).json ?? [:]
                let items = record["items"] as? [[String: Any]] ?? []
                seen = items.map { "\($0["section"] as? String ?? "?"): \($0["summary"] as? String ?? "")" }
                return items.filter { $0["section"] as? String != "review" && $0["section"] as? String != "publication" }.count == 13
                    && items.contains { $0["section"] as? String == "publication" }
                    && items.contains { ($0["eventType"] as? String ?? "").contains("opinion") }
            }
        } catch {
            Issue.record("the record so far: \(seen)")
            throw error
        }
        try await eventually("the gap case and the invalid event archived", timeout: .seconds(60)) {
            let rows = try archivedRows(archive.storePath, topic: "zhifa.events.v1")
            return rows.filter { $0.caseId == "WQ-DWGZ-2024-0012-GAP" }.count == 13 && rows.contains { !$0.valid }
        }

        // Every example once, in the order sent, per case (one chain per partition; a case's key keeps it on one).
        let rows = try archivedRows(archive.storePath, topic: "zhifa.events.v1")
        let validRows = rows.filter(\.valid)
        #expect(Set(validRows.map(\.eventId)).count == validRows.count, "each event id once")
        for caseId in Set(examples.compactMap(\.caseId)) {
            let sent = examples.filter { $0.caseId == caseId }.map(\.id)
            let stored = validRows.filter { $0.caseId == caseId }
            #expect(stored.map(\.eventId) == sent, "case \(caseId) archived once, in order")
            #expect(Set(stored.map(\.chain)).count == 1)
            #expect(zip(stored, stored.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        }
        let invalid = rows.filter { !$0.valid }
        #expect(invalid.count == 1)
        #expect(invalid.first?.invalidReason?.contains("/data/caseId") == true, "kept, marked invalid with the reason: \(String(describing: invalid.first?.invalidReason))")

        // The record, in order, by section.
        let items = record["items"] as? [[String: Any]] ?? []
        let times = items.compactMap { $0["time"] as? String }
        #expect(times == times.sorted(), "the record is in time order")
        let sections = Set(items.compactMap { $0["section"] as? String })
        #expect(sections.isSuperset(of: ["opening", "act", "av", "notice", "hearing", "draft", "decision", "closing", "review", "publication"]), "\(sections)")

        // Completeness: the sealing covered, the battery change explained; the copy's gap is not.
        let general = try #require(try await archive.http.get(archive.url + "/v1/archive/cases/WQ-DWGZ-2024-0012/completeness", token: token).json)
        let generalCoverage = general["avCoverage"] as? [[String: Any]] ?? []
        let sealing = generalCoverage.first { $0["actionId"] as? String == "ACT-0012-2" }
        #expect(sealing?["complete"] as? Bool == true)
        let sealingGaps = sealing?["gaps"] as? [[String: Any]] ?? []
        #expect(sealingGaps.count == 1)
        #expect(sealingGaps.first?["explained"] as? Bool == true)
        #expect((sealingGaps.first?["reason"] as? String)?.isEmpty == false)
        let cli = try await archiveCommand(["completeness", "--case", "WQ-DWGZ-2024-0012-GAP", "--json"], dataDir: dir.url)
        #expect(cli.status == 0, "\(cli.stderr)")
        let gapReport = try #require(try JSONSerialization.jsonObject(with: Data(cli.stdout.utf8)) as? [String: Any])
        #expect(gapReport["complete"] as? Bool == false)
        let gapSealing = (gapReport["avCoverage"] as? [[String: Any]] ?? []).first { $0["actionId"] as? String == "ACT-0012-2" }
        let unexplained = (gapSealing?["gaps"] as? [[String: Any]] ?? []).filter { $0["explained"] as? Bool == false }
        #expect(unexplained.count == 1)
        // Ten minutes, 14:44 to 14:54 on the camera's clock (the report corrects its 10 ms offset).
        #expect(abs((unexplained.first?["seconds"] as? Double ?? 0) - 600) < 1, "\(String(describing: unexplained.first))")
        #expect((unexplained.first?["from"] as? String)?.hasPrefix("2024-05-08T14:4") == true)
        let text = try await archiveCommand(["completeness", "--case", "WQ-DWGZ-2024-0012-GAP"], dataDir: dir.url)
        #expect(text.stdout.contains("INCOMPLETE"), "\(text.stdout)")

        // Access: a token is needed; another agency's archivist does not see the case; verify over HTTP.
        #expect(try await archive.http.get(archive.url + "/v1/archive/cases/WQ-DWGZ-2024-0012").status == 401)
        let other = try await archivistToken("ARC-HXW-01")
        let hidden = try await archive.http.get(archive.url + "/v1/archive/cases/WQ-DWGZ-2024-0012", token: other)
        #expect(hidden.status == 404)
        #expect(hidden.header("Content-Type")?.contains("application/problem+json") == true)
        let verified = try await archive.http.get(archive.url + "/v1/archive/verify", token: token)
        #expect(verified.status == 200)
        #expect(verified.json?["ok"] as? Bool == true, "\(String(decoding: verified.body, as: UTF8.self).prefix(2_000))")
        let exported = try await archive.http.post(archive.url + "/v1/archive/cases/WQ-DWGZ-2024-0012/export", token: token)
        #expect(exported.status == 200)
        #expect(exported.body.starts(with: Array("PK".utf8)), "a ZIP package")

        // The chain heads and a receipt per archived event reach the receipts topic.
        try await eventually("receipts for every example", timeout: .seconds(60)) {
            let keys = Set(try await readTopic("zhifa.archive.receipts.v1", bootstrap: cluster.bootstrapServers).compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
            return Set(examples.map(\.id)).isSubset(of: keys)
        }

        await archive.stop()
        await publicity.stop()
        await review.stop()
        await cluster.shutdown()

        // 四性检测 from the command line passes, and every read above is in the chained audit log.
        let ok = try await archiveCommand(["verify"], dataDir: dir.url)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        let report = try await archiveCommand(["verify", "--json"], dataDir: dir.url)
        let reportJSON = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
        #expect(reportJSON?["ok"] as? Bool == true)
        let audit: [(String, String, String)] = try await DatabaseQueue(path: archive.storePath).read { db in
            try Row.fetchAll(db, sql: "SELECT actor, action, target FROM audit ORDER BY seq").map { ($0["actor"], $0["action"], $0["target"]) }
        }
        #expect(audit.contains { $0.0 == "archivist:ARC-DWGZ-01" && $0.1 == "read-record" && $0.2 == "WQ-DWGZ-2024-0012" })
        #expect(audit.contains { $0.0 == "archivist:ARC-DWGZ-01" && $0.1 == "export" && $0.2 == "WQ-DWGZ-2024-0012" })
        #expect(audit.contains { $0.0.hasPrefix("operator:") && $0.1 == "read-completeness" && $0.2 == "WQ-DWGZ-2024-0012-GAP" })

        // Export, verify offline; one changed byte fails it.
        let packageDir = try TemporaryDirectory()
        defer { packageDir.cleanup() }
        let package = packageDir.url.appendingPathComponent("WQ-DWGZ-2024-0012.zip")
        let export = try await archiveCommand(["export", "--case", "WQ-DWGZ-2024-0012", "--out", package.path], dataDir: dir.url)
        #expect(export.status == 0, "\(export.stderr)")
        let offline = try await runProgram(buildProduct("zhifa").path, ["archive", "verify-package", package.path])
        #expect(offline.status == 0, "\(offline.stdout)\(offline.stderr)")
        var bytes = try Data(contentsOf: package)
        bytes[bytes.count / 2] ^= 0x20
        let changed = packageDir.url.appendingPathComponent("changed.zip")
        try bytes.write(to: changed)
        let refused = try await runProgram(buildProduct("zhifa").path, ["archive", "verify-package", changed.path])
        #expect(refused.status == 1, "\(refused.stdout)")
        let unknown = try await archiveCommand(["export", "--case", "NO-SUCH-CASE", "--out", package.path], dataDir: dir.url)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("NO-SUCH-CASE"), "\(unknown.stderr)")

        // Direct edits of the database file: each is found, naming the first bad entry.
        let byId = Dictionary(uniqueKeysWithValues: validRows.map { ($0.eventId, $0) })
        let edited = try #require(byId["evt-0024"])
        let middle = try #require(byId["evt-0005"])
        let tampering: [(String, String, String)] = [
            ("edit", "UPDATE entries SET payload = CAST(replace(CAST(payload AS TEXT), '100', '900') AS BLOB) WHERE event_id = 'evt-0024'",
             "\(edited.chain) #\(edited.sequence) (evt-0024)"),
            ("delete", "DELETE FROM entries WHERE event_id = 'evt-0005'", "\(middle.chain) #\(middle.sequence + 1) "),
            ("reorder", """
                UPDATE entries SET seq = -1 WHERE chain = '\(middle.chain)' AND seq = \(middle.sequence);
                UPDATE entries SET seq = \(middle.sequence) WHERE chain = '\(middle.chain)' AND seq = \(middle.sequence + 1);
                UPDATE entries SET seq = \(middle.sequence + 1) WHERE chain = '\(middle.chain)' AND seq = -1;
                """, "\(middle.chain) #\(middle.sequence) "),
        ]
        for (what, sql, named) in tampering {
            let copy = try copyArchive(dir.url)
            defer { copy.cleanup() }
            try tamperArchive(copy.url, sql)
            let r = try await archiveCommand(["verify"], dataDir: copy.url)
            #expect(r.status == 1, "\(what) went unnoticed: \(r.stdout)")
            let firstBad = r.stdout.split(separator: "\n").first { $0.contains("first bad entry") }.map(String.init) ?? ""
            #expect(firstBad.contains(named), "\(what) should name \(named): \(r.stdout)")
        }
    }

    @Test("an archive killed with SIGKILL during a 2,000-event burst archives every event exactly once after restart, and verify passes")
    func sigkillDuringBurst() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let config = try testConfiguration()
        var sim = TownSimulator(rules: try RulesLoader.load(config.rules), settings: config.simulator, seed: 7,
                                start: ChinaTime.startOfDay(CalendarDay(year: 2024, month: 6, day: 3)))
        var events: [CloudEvent] = []
        for c in try sim.generate(cases: 400) where events.count < 2_000 { events += c.events.map(\.event) }
        events = Array(events.prefix(2_000))
        let ids = Set(events.map(\.id))
        #expect(ids.count == 2_000)

        // The first 700 are archived; the next 300 are produced and the archive is killed at once,
        // while it works on them (small batches: many transactions); the last 1,000 arrive while
        // it is down.
        let first = try await ArchiveUnderTest.start(cluster: cluster, dataDir: dir.url, env: ["ZHIFA_ARCHIVE_BATCH_SIZE": "20"])
        try await ExampleEvents.send(Array(events[..<700]), bootstrap: cluster.bootstrapServers)
        try await eventually("the first 700 archived", timeout: .seconds(90)) { try archivedRows(first.storePath).count >= 700 }
        try await ExampleEvents.send(Array(events[700..<1_000]), bootstrap: cluster.bootstrapServers)
        first.process.signal(SIGKILL)
        _ = try await first.process.waitForExit()
        let atKill = try archivedRows(first.storePath).count
        #expect(atKill >= 700 && atKill < 2_000, "killed mid-burst (\(atKill) archived)")
        try await ExampleEvents.send(Array(events[1_000...]), bootstrap: cluster.bootstrapServers)

        let second = try await ArchiveUnderTest.start(cluster: cluster, dataDir: dir.url)
        var rows: [ArchivedRow] = []
        try await eventually("all 2,000 events archived after the restart", timeout: .seconds(120)) {
            rows = try archivedRows(second.storePath, topic: "zhifa.events.v1")
            return Set(rows.map(\.eventId)).isSuperset(of: ids)
        }
        #expect(rows.count == 2_000, "each event exactly once (\(rows.count) rows)")
        #expect(rows.filter(\.valid).count == rows.count, "every simulated event is valid")
        // Per case, in the order produced.
        var byCase: [String: [String]] = [:]
        for r in rows { byCase[r.caseId ?? "", default: []].append(r.eventId) }
        for (caseId, stored) in byCase {
            #expect(stored == events.filter { $0.caseId == caseId }.map(\.id), "case \(caseId) in order")
        }
        try await eventually("a receipt for every event", timeout: .seconds(60)) {
            let keys = Set(try await readTopic("zhifa.archive.receipts.v1", bootstrap: cluster.bootstrapServers).compactMap { $0.key.map { String(decoding: $0, as: UTF8.self) } })
            return ids.isSubset(of: keys)
        }
        await second.stop()
        await cluster.shutdown()
        let verify = try await archiveCommand(["verify"], dataDir: dir.url)
        #expect(verify.status == 0, "\(verify.stdout)")
    }
}
