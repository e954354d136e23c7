import Foundation
import Testing
import ZhifaDomain

/// Bytes that others keep: the archive's canonical entries (their hashes are in every archive and
/// exported package), event JSON and CST timestamps. Faster writers must produce the same bytes.
@Suite("Stable bytes")
struct StableBytesTests {
    @Test("JSON strings: quotes, backslashes and control characters escaped, everything else verbatim")
    func jsonStrings() throws {
        let cases: [(String, String)] = [
            ("", #""""#),
            ("plain ascii", #""plain ascii""#),
            ("quote \" and backslash \\", #""quote \" and backslash \\""#),
            ("line\nfeed\r\ttab", #""line\nfeed\r\ttab""#),
            ("\u{0}\u{1}\u{1f}\u{7f}", "\"\\u0000\\u0001\\u001f\u{7f}\""),
            ("张三 🚓 é/slash", "\"张三 🚓 é/slash\""),
        ]
        for (input, expected) in cases {
            #expect(JSONValue.string(input).jsonText == expected)
            #expect(JSONValue.string(input).jsonBytes == Array(expected.utf8))
            let back = try JSONParser.parse(Array(expected.utf8))
            #expect(back == .string(input))
        }
        let nested = JSONValue.object(JSONObject([
            ("a", .array([.null, .bool(true), .bool(false), .number(JSONNumber(42)), .string("x")])), ("b", .object(JSONObject([]))),
        ]))
        #expect(nested.jsonText == #"{"a":[null,true,false,42,"x"],"b":{}}"#)
    }

    @Test("an archive entry's canonical bytes and digest do not change")
    func canonicalEntry() {
        let entry = ArchiveEntry(
            chain: "zhifa.events.v1/3", sequence: 17, kind: .message, eventId: "evt-\"1\"", topic: "zhifa.events.v1", partition: 3,
            offset: 1234, key: "CASE-2024-001", headers: [["ce_id", "evt-1"], ["ce_note", "张三\n"]], receivedAt: "2024-05-06T09:00:00.123+08:00",
            valid: false, invalidReason: "schema: /data/x: required", caseId: "CASE-2024-001", eventType: "act.recorded",
            payloadSha256: String(repeating: "ab", count: 32), payloadSize: 731, prevHash: "", hash: "")
        let text = String(decoding: ArchiveChain.canonical(entry), as: UTF8.self)
        #expect(text == #"{"chain":"zhifa.events.v1/3","sequence":17,"kind":"message","eventId":"evt-\"1\"","topic":"zhifa.events.v1","partition":3,"offset":1234,"key":"CASE-2024-001","headers":[["ce_id","evt-1"],["ce_note","张三\n"]],"receivedAt":"2024-05-06T09:00:00.123+08:00","valid":false,"invalidReason":"schema: /data/x: required","caseId":"CASE-2024-001","eventType":"act.recorded","payloadSha256":"abababababababababababababababababababababababababababababababab","payloadSize":731,"format":"zhifa-archive-entry/1"}"#)
        #expect(ArchiveChain.digest(entry) == Self.goldenDigest)

        let bare = ArchiveEntry(
            chain: "archive.retention", sequence: 1, kind: .tombstone, eventId: "kafka:t/0/9", topic: "t", partition: 0, offset: -1, key: nil, headers: [],
            receivedAt: "2024-05-06T09:00:00.000+08:00", valid: true, invalidReason: nil, caseId: nil, eventType: nil,
            payloadSha256: "", payloadSize: 0, prevHash: "", hash: "")
        #expect(String(decoding: ArchiveChain.canonical(bare), as: UTF8.self) == #"{"chain":"archive.retention","sequence":1,"kind":"tombstone","eventId":"kafka:t/0/9","topic":"t","partition":0,"offset":-1,"key":null,"headers":[],"receivedAt":"2024-05-06T09:00:00.000+08:00","valid":true,"invalidReason":null,"caseId":null,"eventType":null,"payloadSha256":"","payloadSize":0,"format":"zhifa-archive-entry/1"}"#)
    }

    static let goldenDigest = "5c560b4a7bfce88ec8552e670442004b8990e4cf6bc4dc91c1fbe6839582dd00"

    @Test("China Standard Time formatting", arguments: [
        (0.0, "1970-01-01T08:00:00+08:00", "1970-01-01T08:00:00.000+08:00"),
        (1_714_957_200.0, "2024-05-06T09:00:00+08:00", "2024-05-06T09:00:00.000+08:00"),
        (1_714_957_200.0 + 59.987, "2024-05-06T09:00:59+08:00", "2024-05-06T09:00:59.987+08:00"),
        (1_735_660_799.5, "2024-12-31T23:59:59+08:00", "2024-12-31T23:59:59.500+08:00"),
        (-1.0, "1970-01-01T07:59:59+08:00", "1970-01-01T07:59:59.000+08:00"),
    ])
    func chinaTime(seconds: Double, text: String, millis: String) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(ChinaTime.format(date) == text)
        #expect(ChinaTime.formatMillis(date) == millis)
    }

    @Test("an archive receipt's JSON is the bytes JSONEncoder writes with sorted keys, and decodes back")
    func archiveReceiptBytes() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let receipts = [
            ArchiveReceipt(eventId: "evt-2024-000123", topic: "zhifa.events.v1", partition: 5, offset: 1_234_567, chain: "zhifa.events.v1/5",
                           sequence: 42, entryHash: String(repeating: "ab", count: 32), valid: true, archivedAt: "2024-05-06T09:00:00+08:00"),
            ArchiveReceipt(eventId: "id with \"quote\" and 张三", topic: "t", partition: 0, offset: 0, chain: "c/0", sequence: -1,
                           entryHash: "", valid: false, archivedAt: "2024-05-06T09:00:00.123+08:00"),
        ]
        for r in receipts {
            #expect(r.jsonBytes == Array(try encoder.encode(r)))
            #expect(try JSONDecoder().decode(ArchiveReceipt.self, from: Data(r.jsonBytes)) == r)
        }
    }
}
