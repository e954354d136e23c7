import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaDomain
import ZhifaTerminal

/// Byte-level mutations of valid events, for throwing malformed input at the live ingest.
struct RequestMutator {
    var random: SeededRandom

    /// Bytes that break JSON, UTF-8 or both.
    static let awkward: [[UInt8]] = [
        [0x00], [0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xEF, 0xBB, 0xBF], Array("\"".utf8), Array("\\".utf8),
        Array("{".utf8), Array("]".utf8), Array(",".utf8), Array("\\u".utf8), Array("\\ud800".utf8),
        Array("1e999999".utf8), Array("-0".utf8), Array("123456789012345678901234567890".utf8), Array("null".utf8),
        Array("NaN".utf8), Array("true".utf8), Array("\"\\u0000\"".utf8), Array(String(repeating: "x", count: 70_000).utf8),
    ]

    mutating func int(_ n: Int) -> Int { Int(random.next() % UInt64(max(1, n))) }

    /// One random mutation of `bytes`.
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        let at = int(b.count + 1)
        switch int(9) {
        case 0: if !b.isEmpty { b[min(at, b.count - 1)] = UInt8(truncatingIfNeeded: random.next()) }
        case 1: b = Array(b.prefix(at))
        case 2: b.insert(contentsOf: Self.awkward[int(Self.awkward.count)], at: at)
        case 3: b.removeSubrange(at..<min(b.count, at + 1 + int(40)))
        case 4: b.insert(contentsOf: b[at..<min(b.count, at + int(200))], at: at)
        case 5: b = Array(repeating: UInt8(ascii: "["), count: 1 + int(100_000))
        case 6: b = Array(repeating: UInt8(ascii: "{"), count: 1 + int(50)) + b
        case 7: b = []
        default:
            // Replace the value after a random quote-colon with an awkward one.
            let colons = b.indices.filter { b[$0] == UInt8(ascii: ":") && $0 > 0 && b[$0 - 1] == UInt8(ascii: "\"") }
            if let c = colons.isEmpty ? nil : colons[int(colons.count)] {
                let end = b[(c + 1)...].firstIndex { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") } ?? b.count
                b.replaceSubrange((c + 1)..<end, with: Self.awkward[int(Self.awkward.count)])
            }
        }
        return b
    }

    /// A change that keeps the JSON well-formed but may break the contract: a member removed, or
    /// given another type or an odd value; the event gets a fresh id, so a valid result is new.
    mutating func mutateStructure(_ bytes: [UInt8]) -> [UInt8] {
        guard var event = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return bytes }
        event["id"] = "fuzz-\(random.next() % 1_000_000_000)"
        var data = event["data"] as? [String: Any] ?? [:]
        let inData = int(3) > 0 && !data.isEmpty
        let keys = (inData ? Array(data.keys) : Array(event.keys)).sorted()
        let key = keys[int(keys.count)]
        let odd: [Any?] = [nil, 42, -1.5, "", String(repeating: "长", count: 5_000), [] as [Any], ["x": ["y": [1, 2]]], true, NSNull(),
                           "2024-02-30T25:61:00+08:00", "../../etc/passwd", "<script>alert(1)</script>", 1e308]
        let value = odd[int(odd.count)]
        if inData { data[key] = value; event["data"] = data } else if key != "id" { event[key] = value }
        return (try? Array(JSONSerialization.data(withJSONObject: event))) ?? bytes
    }
}

@Suite("Ingest under malformed input, through the zhifa binary", .serialized)
struct IngestFuzzTests {
    @Test("hundreds of mutated, truncated and random signed requests get 2xx or a 4xx problem; the server stays up, stores only what it accepted, echoes no personal data")
    func malformedInput() async throws {
        let cluster = try embeddedClusterWithAllTopics()
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let ingest = try await IngestUnderTest.start(cluster: cluster, dataDir: dir.url)
        let examples = try files(in: contractDirectory.appendingPathComponent("examples")).map { Array(try Data(contentsOf: $0)) }
        let personal = ["120222199001011234", "13812345678", "13900001111", "王小明"]
        let contentTypes = ["application/cloudevents+json", "application/cloudevents+json", "application/json", "text/plain",
                            "application/cloudevents-batch+json", "", "application/cloudevents+json; charset=latin1"]
        var mutator = RequestMutator(random: SeededRandom(seed: 20261128))
        var accepted: Set<String> = []
        var statuses: [Int: Int] = [:]

        func check(_ r: IngestResponse, _ what: String) throws {
            statuses[r.status, default: 0] += 1
            #expect([200, 202, 400, 403, 413, 415, 422].contains(r.status), "\(what): status \(r.status)")
            let text = String(decoding: r.body, as: UTF8.self)
            for p in personal { #expect(!text.contains(p), "\(what): the answer echoes personal data") }
            if r.status >= 400 {
                #expect(r.contentType?.hasPrefix("application/problem+json") == true, "\(what): \(r.contentType ?? "no content type")")
                let problem = try #require(r.json as? [String: Any], "\(what): a JSON problem body")
                #expect(problem["status"] as? Int == r.status)
                #expect(problem["title"] is String && problem["detail"] is String, "\(what): title and detail")
            }
        }

        for i in 0..<400 {
            let original = examples[mutator.int(examples.count)]
            let body = i % 2 == 0 ? mutator.mutateStructure(original) : mutator.mutate(original)
            let type = i % 4 == 0 ? contentTypes[mutator.int(contentTypes.count)] : "application/cloudevents+json"
            let r = try await ingest.client.post("/v1/events", body: body, deviceId: signer(original), contentType: type)
            try check(r, "request \(i)")
            if r.status == 202, let id = (r.json as? [String: Any])?["id"] as? String { accepted.insert(id) }
        }
        for i in 0..<60 {
            var events: [[UInt8]] = []
            for _ in 0..<(1 + mutator.int(12)) {
                let e = examples[mutator.int(examples.count)]
                events.append(mutator.int(3) == 0 ? e : mutator.mutateStructure(e))
            }
            var body = Array("[".utf8) + events.joined(separator: Array(",".utf8)) + Array("]".utf8)
            if i % 5 == 0 { body = mutator.mutate(body) }
            let r = try await ingest.client.post("/v1/events:batch", body: body, deviceId: "SYS-WQ-DWGZ-ZHZF",
                                                 contentType: "application/cloudevents-batch+json")
            try check(r, "batch \(i)")
            if r.status == 200, let results = (r.json as? [String: Any])?["results"] as? [[String: Any]] {
                #expect(results.count == events.count || i % 5 == 0, "batch \(i) answers per event")
                for result in results {
                    let status = result["status"] as? Int ?? 0
                    #expect([200, 202, 403, 422].contains(status), "batch \(i): event status \(status)")
                    if status >= 400 { #expect(result["problem"] is [String: Any], "batch \(i): a problem per refused event") }
                    if status == 202, let id = result["id"] as? String { accepted.insert(id) }
                }
            }
        }
        // Every kind of answer occurred, so the input really was mixed.
        #expect(statuses[202, default: 0] + statuses[200, default: 0] > 0)
        #expect(statuses[400, default: 0] > 0 && statuses[422, default: 0] > 0 && statuses[415, default: 0] > 0)

        #expect(ingest.process.isRunning, "the ingest survived")
        #expect(try await ingest.client.get("/healthz").status == 200)
        let db = try DatabaseQueue(path: dir.url.appendingPathComponent("ingest-outbox.sqlite").path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        let stored = try await db.read { try String.fetchAll($0, sql: "SELECT id FROM outbox") }
        #expect(Set(stored) == accepted, "the outbox holds exactly the accepted events")
        #expect(stored.count == accepted.count, "each stored once")
        let log = ingest.process.errorOutput
        #expect(!log.contains("Fatal error"))
        for p in personal { #expect(!log.contains(p), "the log holds personal data") }
        await ingest.stop()
        await cluster.shutdown()
    }
}
