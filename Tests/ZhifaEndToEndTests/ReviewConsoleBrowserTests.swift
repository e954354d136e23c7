import Foundation
import Testing
import TestSupport
import ZhifaDomain
import ZhifaKafka

@Suite("Reviewer console in headless Chromium", .serialized)
struct ReviewConsoleBrowserTests {
    @Test("sign in, claim, read the case with its AV timeline and findings, approve")
    func claimAndApprove() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        try await ExampleEvents.send(try ExampleEvents.all(), bootstrap: cluster.bootstrapServers)
        let token = try await review.token("REV-DWGZ-01")
        try await eventually("a task", timeout: .seconds(60)) { try await review.tasks(token).count == 1 }
        let artifacts = repositoryRoot.appendingPathComponent("test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("review-console.png")
        try? FileManager.default.removeItem(at: shot)
        let run = try await runProgram("/usr/bin/env", ["python3", repositoryRoot.appendingPathComponent("Tests/Tools/review_console_test.py").path, review.url, token, shot.path])
        try #require(run.status == 0, "browser: \(run.stderr.suffix(3_000))")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.split(separator: "\n").last.map { Data($0.utf8) } ?? Data())) as? [String: Any])
        #expect((seen["who"] as? String)?.contains("刘明远") == true)
        #expect((seen["results"] as? [String])?.count == 16)
        #expect((seen["results"] as? [String])?.allSatisfy { $0 == "pass" || $0 == "notApplicable" } == true)
        #expect(seen["segments"] as? Int == 2, "the sealing's two segments on its timeline")
        #expect(seen["explainedGaps"] as? Int == 1, "the battery-change gap, explained")
        #expect(seen["state"] as? String == "approved")
        #expect(FileManager.default.fileExists(atPath: shot.path), "screenshot kept as a test artifact")
        let tasks = try await review.tasks(token)
        #expect(tasks.first?["state"] as? String == "approved")
        try await eventually("the approval on zhifa.review.v1") {
            try await reviewEvents(cluster.bootstrapServers).contains { $0.type == ReviewEventType.opinion.rawValue && $0.payload["opinion"] as? String == "approve" }
        }
        await review.stop()
        await cluster.shutdown()
    }
}
