import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A review process on a test-hosted cluster.
struct ReviewUnderTest {
    let process: ZhifaProcess
    let url: String
    let http = HTTPTestClient()
    let dataDir: TemporaryDirectory

    static func start(cluster: EmbeddedKafkaCluster, env: [String: String] = [:]) async throws -> ReviewUnderTest {
        let dir = try TemporaryDirectory()
        let p = try ZhifaProcess(["review", "--data-dir", dir.url.path],
                                 environment: ["ZHIFA_KAFKA_BROKERS": cluster.bootstrapServers, "ZHIFA_HTTP_PORTS_REVIEW": "0"].merging(env) { $1 })
        return ReviewUnderTest(process: p, url: try await p.url(of: "review"), dataDir: dir)
    }

    func token(_ reviewer: String, env: [String: String] = [:]) async throws -> String {
        let r = try await runProgram(buildProduct("zhifa").path, ["review", "token", "--reviewer", reviewer], environment: env)
        guard r.status == 0 else { throw TimedOut(description: "token: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func tasks(_ token: String, query: String = "") async throws -> [[String: Any]] {
        try await http.get(url + "/v1/review/tasks" + query, token: token).json?["tasks"] as? [[String: Any]] ?? []
    }

    func stop() async {
        await http.close()
        await process.stop()
        dataDir.cleanup()
    }
}

/// Messages of zhifa.review.v1 by type, as (ce_id, payload).
func reviewEvents(_ bootstrap: String) async throws -> [(type: String, id: String, payload: [String: Any])] {
    try await readTopic("zhifa.review.v1", bootstrap: bootstrap).map { m in
        (m.headers.text("ce_type") ?? "", m.headers.text("ce_id") ?? "", (try? JSONSerialization.jsonObject(with: Data(m.value ?? []))) as? [String: Any] ?? [:])
    }
}

@Suite("Review end to end through the zhifa binary", .serialized)
struct ReviewEndToEndTests {
    @Test("the general example becomes a major task; approving it publishes the approval, after the violation; the simple example is cleared with no task")
    func examples() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        try await ExampleEvents.send(try ExampleEvents.all(), bootstrap: cluster.bootstrapServers)
        let token = try await review.token("REV-DWGZ-01")
        var tasks: [[String: Any]] = []
        try await eventually("a task for DEC-0012", timeout: .seconds(60)) {
            tasks = try await review.tasks(token)
            return !tasks.isEmpty
        }
        #expect(tasks.count == 1, "only the major decision is queued")
        #expect(tasks[0]["decisionId"] as? String == "DEC-0012")
        #expect(tasks[0]["state"] as? String == "open")
        #expect(tasks[0]["dueDate"] as? String != nil)
        // The violation: its decision.issued was processed before any approval.
        try await eventually("classification, findings and violation on zhifa.review.v1") {
            let e = try await reviewEvents(cluster.bootstrapServers)
            return e.contains { $0.type == ReviewEventType.violation.rawValue } && e.contains { $0.type == ReviewEventType.cleared.rawValue }
        }
        var events = try await reviewEvents(cluster.bootstrapServers)
        let simpleClass = try #require(events.first { $0.type == ReviewEventType.classification.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088" })
        #expect(simpleClass.payload["major"] as? Bool == false)
        let simpleFindings = try #require(events.last { $0.type == ReviewEventType.findings.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088" })
        let results = (simpleFindings.payload["findings"] as? [[String: Any]] ?? []).compactMap { $0["result"] as? String }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0 == "pass" || $0 == "notApplicable" })
        #expect(events.contains { $0.type == ReviewEventType.cleared.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088" })
        #expect(!events.contains { $0.type == ReviewEventType.task.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088" })
        let generalClass = try #require(events.first { $0.type == ReviewEventType.classification.rawValue && $0.payload["decisionId"] as? String == "DEC-0012" })
        #expect(generalClass.payload["major"] as? Bool == true)
        let reasons = Set((generalClass.payload["reasons"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String })
        #expect(reasons == ["hearing", "largeAmount"])

        // Claim and approve through the API.
        let claimed = try await review.http.post(review.url + "/v1/review/tasks/claim", token: token)
        #expect(claimed.status == 200)
        let taskId = try #require(claimed.json?["taskId"] as? String)
        let detail = try await review.http.get(review.url + "/v1/review/tasks/\(taskId)", token: token)
        #expect(detail.status == 200)
        let findings = detail.json?["findings"] as? [[String: Any]] ?? []
        #expect(findings.count == 16)
        let acts = (detail.json?["case"] as? [String: Any])?["acts"] as? [[String: Any]] ?? []
        let sealing = try #require(acts.first { $0["actionType"] as? String == "sealing" })
        let av = try #require(sealing["av"] as? [String: Any])
        #expect(av["complete"] as? Bool == true)
        #expect((av["gaps"] as? [[String: Any]])?.first?["reason"] as? String == "电池更换，恢复录制时已口头说明")
        let missing = try await review.http.post(review.url + "/v1/review/tasks/\(taskId)/opinion", token: token, json: ["opinion": "return"])
        #expect(missing.status == 422, "reasons are required to return")
        #expect((missing.json?["errors"] as? [[String: Any]])?.first?["pointer"] as? String == "/reasons")
        let approved = try await review.http.post(review.url + "/v1/review/tasks/\(taskId)/opinion", token: token, json: ["opinion": "approve"])
        #expect(approved.status == 200)
        let opinionId = try #require(approved.json?["opinionId"] as? String)
        try await eventually("the approval on zhifa.review.v1") {
            events = try await reviewEvents(cluster.bootstrapServers)
            return events.contains { $0.type == ReviewEventType.opinion.rawValue && $0.id == opinionId }
        }
        let opinion = try #require(events.first { $0.id == opinionId })
        #expect(opinion.payload["opinion"] as? String == "approve")
        #expect(opinion.payload["reviewerId"] as? String == "REV-DWGZ-01")
        let violationIndex = try #require(events.firstIndex { $0.type == ReviewEventType.violation.rawValue })
        let opinionIndex = try #require(events.firstIndex { $0.id == opinionId })
        #expect(violationIndex < opinionIndex, "the violation was published before the approval")
        let again = try await review.http.post(review.url + "/v1/review/tasks/\(taskId)/opinion", token: token, json: ["opinion": "approve"])
        #expect(again.status == 409)
        await review.stop()
        await cluster.shutdown()
    }

    @Test("a sealing with an unexplained 10-minute AV gap fails check 10, naming the gap")
    func avGap() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        let events = try ExampleEvents.generalCopy("GAP", changes: [
            "evt-0006": { $0.set("data.startedAt", .string("2024-05-08T14:54:00+08:00")).remove("data.gapReason") },
        ])
        try await ExampleEvents.send(events, bootstrap: cluster.bootstrapServers)
        var check10: [String: Any]? = nil
        try await eventually("findings for DEC-0012-GAP", timeout: .seconds(60)) {
            let f = try await reviewEvents(cluster.bootstrapServers).last { $0.type == ReviewEventType.findings.rawValue && $0.payload["decisionId"] as? String == "DEC-0012-GAP" }
            check10 = (f?.payload["findings"] as? [[String: Any]])?.first { $0["checkId"] as? Int == 10 }
            return check10 != nil
        }
        #expect(check10?["result"] as? String == "fail")
        let reason = check10?["reasonEn"] as? String ?? ""
        #expect(reason.contains("10-minute gap") && reason.contains("14:44") && reason.contains("14:54"), "\(reason)")
        let reasonZh = check10?["reasonZh"] as? String ?? ""
        #expect(reasonZh.contains("中断约10分钟"))
        await review.stop()
        await cluster.shutdown()
    }

    @Test("a camera's earlier recording that arrives after the later case was decided clears that decision, through the review's retry topic")
    func lateRecordingClearsTheLaterCase() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        let shas = (1...3).map { String(repeating: "\($0)", count: 64) }
        let cases = try (1...3).map { n in try ExampleEvents.simpleCopy(n, sha: shas[n - 1], previous: n > 1 ? shas[n - 2] : nil) }
        /// Check 11 in the latest findings for case n's decision.
        func check11(_ n: Int) async throws -> String? {
            let f = try await reviewEvents(cluster.bootstrapServers).last {
                $0.type == ReviewEventType.findings.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088-\(n)"
            }
            return ((f?.payload["findings"] as? [[String: Any]])?.first { $0["checkId"] as? Int == 11 })?["result"] as? String
        }
        // Case 1 first, and only then case 3: a case-1 recording processed after case 3 was checked
        // would also (rightly) ask for case 3 to be checked again, and this test counts one re-check.
        try await ExampleEvents.send(cases[0], bootstrap: cluster.bootstrapServers)
        try await eventually("case 1 checked", timeout: .seconds(60)) { try await check11(1) != nil }
        try await ExampleEvents.send(cases[2], bootstrap: cluster.bootstrapServers)
        try await eventually("case 3 checked while case 2's recording is on its way", timeout: .seconds(60)) { try await check11(3) != nil }
        #expect(try await check11(3) == "needsHuman")
        try await ExampleEvents.send(cases[1], bootstrap: cluster.bootstrapServers)
        try await eventually("case 3's decision cleared", timeout: .seconds(60)) {
            try await reviewEvents(cluster.bootstrapServers).contains {
                $0.type == ReviewEventType.cleared.rawValue && $0.payload["decisionId"] as? String == "DEC-S-0088-3"
            }
        }
        #expect(try await check11(3) == "pass")
        #expect(try await readTopic("zhifa-review.retry", bootstrap: cluster.bootstrapServers).map { $0.keyText } == ["WQ-DWGZ-2024-S-0088-3"])
        let metrics = try await review.http.get(review.url + "/metrics")
        #expect(metrics.text.contains("zhifa_review_rechecks_total 1"), "\(metrics.text.split(separator: "\n").filter { $0.contains("recheck") })")
        await review.stop()
        await cluster.shutdown()
    }

    @Test("the queue: concurrent claims never share a task, leases expire, access is per agency and qualification, investigators recuse, a returned draft's next version is a new linked task")
    func queue() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster, env: ["ZHIFA_REVIEW_LEASE_SECONDS": "3"])
        for i in 1...5 { try await ExampleEvents.send(try ExampleEvents.generalCopy("Q\(i)"), bootstrap: cluster.bootstrapServers) }
        // Every token first: each is a run of the binary, and the 3 s lease below leaves no time for them.
        let a = try await review.token("REV-DWGZ-01"), b = try await review.token("REV-DWGZ-02")
        let other = try await review.token("REV-HXW-01"), unqualified = try await review.token("REV-DWGZ-04")
        let recused = try await review.token("REV-DWGZ-03")
        try await eventually("five tasks", timeout: .seconds(60)) { try await review.tasks(a).count == 5 }

        // Ten claims at once from two reviewers: five tasks, each claimed once.
        let claims = try await withThrowingTaskGroup(of: String?.self) { g in
            for i in 0..<10 { g.addTask { try await review.http.post(review.url + "/v1/review/tasks/claim", token: i % 2 == 0 ? a : b).json?["taskId"] as? String } }
            var out: [String] = []
            for try await c in g { if let c { out.append(c) } }
            return out
        }
        #expect(claims.count == 5)
        #expect(Set(claims).count == 5, "no task claimed twice")
        #expect(try await review.http.post(review.url + "/v1/review/tasks/claim", token: a).status == 204)

        // Leases run out and the tasks come back to the queue.
        try await eventually("expired leases return the tasks", timeout: .seconds(30)) {
            try await review.tasks(a, query: "?state=open").count == 5
        }
        let reclaimed = try #require(try await review.http.post(review.url + "/v1/review/tasks/claim", token: b).json?["taskId"] as? String)
        let stale = try await review.http.post(review.url + "/v1/review/tasks/\(reclaimed)/opinion", token: a, json: ["opinion": "approve"])
        #expect(stale.status == 409, "the first reviewer's claim expired")

        // Return with reasons (while b's lease holds); the next version of the draft becomes a new
        // task linked to the old one.
        let returned = try await review.http.post(review.url + "/v1/review/tasks/\(reclaimed)/opinion", token: b, json: ["opinion": "return", "reasons": "罚款依据需补充工程造价评估报告"])
        #expect(returned.status == 200)
        #expect(returned.json?["state"] as? String == "returned")

        // Agency, token and qualification.
        #expect(try await review.http.get(review.url + "/v1/review/tasks").status == 401)
        #expect(try await review.http.get(review.url + "/v1/review/tasks", token: "not.a.token").status == 401)
        #expect(try await review.tasks(other).isEmpty)
        #expect(try await review.http.get(review.url + "/v1/review/tasks/\(reclaimed)", token: other).status == 404)
        #expect(try await review.http.post(review.url + "/v1/review/tasks/\(reclaimed)/opinion", token: other, json: ["opinion": "approve"]).status == 404)
        let refused = try await review.http.get(review.url + "/v1/review/tasks", token: unqualified)
        #expect(refused.status == 403)
        #expect(refused.header("Content-Type")?.hasPrefix("application/problem+json") == true)
        // REV-DWGZ-03 is officer OF-1201, who investigated every copy of the case: nothing to claim.
        #expect(try await review.http.post(review.url + "/v1/review/tasks/claim", token: recused).status == 204)

        let suffix = String(reclaimed.dropFirst("TASK-DEC-0012-".count).prefix { $0 != "-" })
        let redraft = try ExampleEvents.generalCopy(suffix).first { $0.type == EventType.decisionDrafted.rawValue }!
        var v2 = redraft
        v2.id = redraft.id + "-v2"
        v2.time = "2024-06-12T09:00:00+08:00"
        try await ExampleEvents.send([v2], bootstrap: cluster.bootstrapServers)
        var linked: [String: Any]? = nil
        try await eventually("a new task for the redraft", timeout: .seconds(30)) {
            linked = try await review.tasks(a).first { $0["previousTaskId"] as? String == reclaimed }
            return linked != nil
        }
        #expect(linked?["state"] as? String == "open")
        #expect(linked?["decisionId"] as? String == "DEC-0012-\(suffix)")
        await review.stop()
        await cluster.shutdown()
    }
}
