import Foundation
import NIOHTTP1
import Testing
import TestSupport
import ZhifaDomain

/// Checks one answer of an HTTP API under malformed input: a known status, and a problem+json body
/// on every error.
func expectWellFormedAnswer(_ r: HTTPTestClient.Reply, allowed: Set<Int>, _ what: String) {
    #expect(allowed.contains(r.status), "\(what): status \(r.status) \(r.text.prefix(200))")
    if r.status >= 400 {
        #expect(r.header("Content-Type")?.hasPrefix("application/problem+json") == true, "\(what): \(r.header("Content-Type") ?? "no content type")")
        #expect(r.json?["status"] as? Int == r.status, "\(what): problem status")
        #expect(r.json?["title"] is String && r.json?["detail"] is String, "\(what): title and detail")
    }
}

/// Odd values for ids, query parameters, tokens and JSON members.
struct OddValues {
    var random: SeededRandom
    static let strings = [
        "", " ", "..", "../../etc/passwd", "%00", "%2F..%2F", "%E4%B8%AD%E6%96%87", "'; DROP TABLE tasks; --", "<script>",
        String(repeating: "a", count: 5_000), "null", "0", "-1", "9999999999999999999999", "TASK-1", "WQ-DWGZ-2024-0012", "%FF%FE",
    ]
    static var json: [Any] { [
        42, -0.0, 1e300, true, NSNull(), "", [] as [Any], ["opinion": 1], ["opinion": "return", "reasons": 7],
        ["opinion": "return"], ["opinion": "return", "reasons": ""], ["opinion": "maybe"], ["opinion": ["approve"]],
        ["opinion": "APPROVE"], ["opinion": NSNull()], ["reasons": "x"], ["opinion": "return", "reasons": ["x"]],
    ] }
    static let rawBodies: [[UInt8]] = [
        [], Array("{".utf8), Array("{\"opinion\":".utf8), [0xFF, 0xFE, 0x00], Array("[[[[[[[[[[".utf8) + Array(repeating: UInt8(ascii: "["), count: 50_000),
        Array("{\"opinion\":\"approve\"".utf8), Array("{\"opinion\":\"\\ud800\"}".utf8), Array("nul".utf8),
    ]

    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(random.next() % UInt64(xs.count))] }
    mutating func segment() -> String { pick(Self.strings).addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? "x" }
}

@Suite("HTTP APIs under malformed input, through the zhifa binary", .serialized)
struct APIFuzzTests {
    @Test("the reviewer API answers odd tokens, ids, queries and bodies with 4xx problems and stays up")
    func reviewAPI() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let review = try await ReviewUnderTest.start(cluster: cluster)
        try await ExampleEvents.send(try ExampleEvents.all(), bootstrap: cluster.bootstrapServers)
        let token = try await review.token("REV-DWGZ-01")
        try await eventually("a task for DEC-0012", timeout: .seconds(60)) { !(try await review.tasks(token)).isEmpty }
        let claimed = try await review.http.post(review.url + "/v1/review/tasks/claim", token: token)
        let taskId = try #require(claimed.json?["taskId"] as? String, "the task is claimed")
        var odd = OddValues(random: SeededRandom(seed: 7))
        let base = review.url + "/v1/review"
        let parts = token.split(separator: ".").map(String.init)
        let badTokens = ["", "x", token + "x", String(token.dropLast(3)), parts.count == 3 ? "\(parts[0]).\(parts[1])." : "a.b.",
                         "eyJhbGciOiJub25lIn0.\(parts.count == 3 ? parts[1] : "e30").", String(repeating: "A", count: 10_000)]
        for bad in badTokens {
            let r = try await review.http.get(base + "/tasks", token: bad)
            expectWellFormedAnswer(r, allowed: [401], "token \(bad.prefix(20))")
        }
        for i in 0..<150 {
            let r: HTTPTestClient.Reply
            switch i % 5 {
            case 0:
                r = try await review.http.get(base + "/tasks?state=\(odd.segment())&overdue=\(odd.segment())", token: token)
            case 1:
                r = try await review.http.get(base + "/tasks/\(odd.segment())", token: token)
            case 2:
                let id = i % 2 == 0 ? taskId : odd.segment()
                r = try await review.http.request(.POST, base + "/tasks/\(id)/opinion", token: token, json: odd.pick(OddValues.json))
            case 3:
                let id = i % 2 == 1 ? taskId : odd.segment()
                r = try await review.http.request(.POST, base + "/tasks/\(id)/renew", token: token,
                                                  headers: [("Content-Type", "application/json")], rawBody: odd.pick(OddValues.rawBodies))
            default:
                r = try await review.http.request(.POST, base + "/tasks/claim", token: token,
                                                  headers: [("Content-Type", odd.pick(["application/json", "text/plain"]))], rawBody: odd.pick(OddValues.rawBodies))
            }
            expectWellFormedAnswer(r, allowed: [200, 204, 400, 404, 409, 413, 415, 422], "request \(i)")
        }
        // The task came through untouched: still claimed by this reviewer, and a proper opinion is taken.
        let detail = try await review.http.get(base + "/tasks/\(taskId)", token: token)
        #expect(detail.status == 200 && detail.json?["state"] as? String == "claimed", "\(detail.text.prefix(300))")
        let approved = try await review.http.post(base + "/tasks/\(taskId)/opinion", token: token, json: ["opinion": "approve"])
        #expect(approved.status == 200, "\(approved.text.prefix(300))")
        #expect(review.process.isRunning, "the review service survived")
        #expect(try await review.http.get(review.url + "/healthz").status == 200)
        #expect(!review.process.errorOutput.contains("Fatal error"))
        await review.stop()
        await cluster.shutdown()
    }

    @Test("the archivist API answers odd tokens, case ids and queries with 4xx problems and stays up")
    func archiveAPI() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let archive = try await ArchiveUnderTest.start(cluster: cluster, dataDir: dir.url)
        let token = try await archivistToken("ARC-DWGZ-01")
        var odd = OddValues(random: SeededRandom(seed: 11))
        let base = archive.url + "/v1/archive"
        for bad in ["", "x", token + "x", String(token.dropLast(3))] {
            expectWellFormedAnswer(try await archive.http.get(base + "/verify", token: bad), allowed: [401], "token \(bad.prefix(20))")
        }
        for i in 0..<120 {
            let id = odd.segment()
            let r: HTTPTestClient.Reply
            switch i % 4 {
            case 0: r = try await archive.http.get(base + "/cases/\(id)", token: token)
            case 1: r = try await archive.http.get(base + "/cases/\(id)/completeness", token: token)
            case 2: r = try await archive.http.get(base + "/verify?case=\(id)", token: token)
            default:
                r = try await archive.http.request(.POST, base + "/cases/\(id)/export", token: token,
                                                   headers: [("Content-Type", "application/json")], rawBody: odd.pick(OddValues.rawBodies))
            }
            expectWellFormedAnswer(r, allowed: [200, 400, 404, 413, 422], "request \(i)")
        }
        #expect(archive.process.isRunning, "the archive service survived")
        #expect(try await archive.http.get(archive.url + "/healthz").status == 200)
        #expect(!archive.process.errorOutput.contains("Fatal error"))
        await archive.stop()
        await cluster.shutdown()
    }
}
