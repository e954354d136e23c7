import Foundation
import Testing
import TestSupport

/// The README's first command ends in `zhifa up --demo`: what a newcomer sees must be right.
@Suite("zhifa up --demo through the binary")
struct DemoEndToEndTests {
    @Test("zhifa up --demo publishes current decisions on time, queues major drafts for reviewers, issues one once a reviewer approves it, and reports no violation")
    func demoShowsAWorkingTown() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let up = try demo(in: dir)
        let publicity = try await up.url(of: "publicity")
        let review = try await up.url(of: "review")
        let http = HTTPTestClient()

        // The public feed fills with decisions, none of them published late.
        var items: [[String: Any]] = []
        try await eventually("at least 5 decisions on the public feed", timeout: .seconds(120)) {
            items = try await http.get(publicity + "/feed.json").json?["items"] as? [[String: Any]] ?? []
            return items.count >= 5
        }
        let late = items.filter { ($0["_zhifa"] as? [String: Any])?["late"] as? Bool != false }.compactMap { $0["id"] as? String }
        #expect(late.isEmpty, "published late: \(late)")

        // Major drafts wait in the reviewers' queue, open and not overdue.
        let token = try await reviewerToken()
        var tasks: [[String: Any]] = []
        try await eventually("a major draft in the review queue", timeout: .seconds(120)) {
            tasks = try await http.get(review + "/v1/review/tasks", token: token).json?["tasks"] as? [[String: Any]] ?? []
            return !tasks.isEmpty
        }
        #expect(tasks.allSatisfy { $0["state"] as? String == "open" && $0["overdue"] as? Bool == false })

        // A reviewer approves one: the demo's case system issues it, and it is published on time.
        _ = try await approveOldestTask(review: review, publicity: publicity, token: token, up: up)
        try await stopCleanly(up)
    }

    @Test("a demo restarted on the same data directory still issues a major decision its first run held for review, once a reviewer approves it")
    func heldDecisionsSurviveARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let http = HTTPTestClient()
        let token = try await reviewerToken()

        // The first run: major drafts reach the reviewers' queue; then it is stopped.
        let first = try demo(in: dir)
        let firstReview = try await first.url(of: "review")
        var heldByFirst: Set<String> = []
        try await eventually("a major draft in the review queue", timeout: .seconds(120)) {
            let tasks = try await http.get(firstReview + "/v1/review/tasks", token: token).json?["tasks"] as? [[String: Any]] ?? []
            heldByFirst = Set(tasks.compactMap { $0["decisionId"] as? String })
            return !heldByFirst.isEmpty
        }
        try await stopCleanly(first)

        // The second run: the oldest task is the first run's; approving it issues the decision.
        let second = try demo(in: dir)
        let publicity = try await second.url(of: "publicity")
        let review = try await second.url(of: "review")
        let decisionId = try await approveOldestTask(review: review, publicity: publicity, token: token, up: second)
        #expect(heldByFirst.contains(decisionId), "approved \(decisionId), not one of the first run's \(heldByFirst)")
        try await stopCleanly(second)

        // The second run's embedded broker started empty, its offsets from 0 again: the archive
        // took its logs as new chains, and the whole archive still verifies.
        let verify = try await runProgram(buildProduct("zhifa").path, ["archive", "verify", "--data-dir", dir.url.path])
        #expect(verify.status == 0, "\(verify.stdout.prefix(3_000))")
    }

    /// A reviewer claims the oldest open task and approves it: the demo's case system issues the
    /// decision, and it appears on the public feed, not late — or, when the law keeps it off the feed
    /// (the simulated town has confidential cases, minors and warnings), the publicity service lists
    /// it as withheld for that reason, which it does only once the decision is issued and approved.
    /// Returns the decision id. On a timeout, the failure shows the end of `up`'s log.
    func approveOldestTask(review: String, publicity: String, token: String, up: ZhifaProcess) async throws -> String {
        let http = HTTPTestClient()
        let claimed = try await http.post(review + "/v1/review/tasks/claim", token: token)
        let taskId = try #require(claimed.json?["taskId"] as? String, "claim answered \(claimed.status)")
        let decisionId = try #require(claimed.json?["decisionId"] as? String)
        let approved = try await http.post(review + "/v1/review/tasks/\(taskId)/opinion", token: token, json: ["opinion": "approve"])
        #expect(approved.status == 200)
        var published: [String: Any]? = nil
        var withheld: [String: Any]? = nil
        do {
            try await eventually("the approved decision \(decisionId) on the public feed, or withheld from it by law", timeout: .seconds(120)) {
                let items = try await http.get(publicity + "/feed.json").json?["items"] as? [[String: Any]] ?? []
                published = items.first { ($0["_zhifa"] as? [String: Any])?["decisionId"] as? String == decisionId }
                let report = try await http.get(publicity + "/v1/publicity/overdue").json?["withheld"] as? [[String: Any]] ?? []
                withheld = report.first { $0["decisionId"] as? String == decisionId }
                return published != nil || withheld != nil
            }
        } catch {
            throw TimedOut(description: "\(error); the demo's log ends: \(up.errorOutput.suffix(6_000))")
        }
        if let withheld {
            #expect(["confidential", "minor", "warningOnly"].contains(withheld["reason"] as? String ?? ""), "withheld: \(withheld)")
        } else {
            #expect((published?["_zhifa"] as? [String: Any])?["late"] as? Bool == false)
        }
        return decisionId
    }

    /// `zhifa up --demo` on `dir`, its ingest on a free port and the other services on any port.
    func demo(in dir: TemporaryDirectory) throws -> ZhifaProcess {
        try ZhifaProcess(["up", "--demo", "--data-dir", dir.url.path], environment: [
            "ZHIFA_HTTP_PORTS_INGEST": String(try freeLoopbackPort()), "ZHIFA_HTTP_PORTS_REVIEW": "0", "ZHIFA_HTTP_PORTS_PUBLICITY": "0",
            "ZHIFA_HTTP_PORTS_ARCHIVE": "0", "ZHIFA_SIMULATOR_DEMO_RATE": "60",
        ])
    }

    /// A bearer token for the demo town's first legal reviewer.
    func reviewerToken() async throws -> String {
        try await runProgram(buildProduct("zhifa").path, ["review", "token", "--reviewer", "REV-DWGZ-01"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Stops the demo with Ctrl-C: it exits 0, logged no violation, its traffic met no error, and its
    /// consumers had read everything before the embedded broker stopped.
    func stopCleanly(_ up: ZhifaProcess) async throws {
        up.signal(SIGINT)
        #expect(try await up.waitForExit() == 0)
        let log = up.errorOutput
        let violation = log.split(separator: "\n").first { $0.contains("issued without an approving legal review opinion") }
        #expect(violation == nil, "the demo issued a major decision before review: \(violation ?? "")")
        let paused = log.split(separator: "\n").first { $0.contains("demo traffic paused after an error") }
        #expect(paused == nil, "\(paused ?? "")")
        let refused = log.split(separator: "\n").first { $0.contains("demo: event not accepted") || $0.contains("demo: could not") || $0.contains("cannot keep") }
        #expect(refused == nil, "\(refused ?? "")")
        // Before its embedded broker stopped, every consumer read its topics to the end.
        let cut = log.split(separator: "\n").first { $0.contains("stopping before every consumer read its topics") }
        #expect(cut == nil, "\(cut ?? "")")
    }
}
