import Foundation
@testable import ZhifaDomain

/// A small deterministic PRNG (SplitMix64) for reproducible test data.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension JSONValue {
    /// A copy with the value at `path` replaced (or added to its object).
    func setting(_ path: [String], _ value: JSONValue) -> JSONValue {
        guard let head = path.first else { return value }
        switch self {
        case .object(var o):
            let child = o[head] ?? .null
            let new = child.setting(Array(path.dropFirst()), value)
            if let i = o.members.lastIndex(where: { $0.key == head }) { o.members[i].value = new } else { o.members.append((head, new)) }
            return .object(o)
        case .array(var a):
            guard let i = Int(head), i < a.count else { return self }
            a[i] = a[i].setting(Array(path.dropFirst()), value)
            return .array(a)
        default: return self
        }
    }

    /// A copy without the member at `path`.
    func removing(_ path: [String]) -> JSONValue {
        guard let head = path.first else { return self }
        switch self {
        case .object(var o):
            if path.count == 1 { o.members.removeAll { $0.key == head }; return .object(o) }
            if let i = o.members.lastIndex(where: { $0.key == head }) { o.members[i].value = o.members[i].value.removing(Array(path.dropFirst())) }
            return .object(o)
        case .array(var a):
            guard let i = Int(head), i < a.count else { return self }
            if path.count == 1 { a.remove(at: i); return .array(a) }
            a[i] = a[i].removing(Array(path.dropFirst()))
            return .array(a)
        default: return self
        }
    }

    /// Paths of every leaf (and of every object member) below this value.
    func paths(_ prefix: [String] = []) -> [[String]] {
        switch self {
        case .object(let o): return o.members.flatMap { [prefix + [$0.key]] + $0.value.paths(prefix + [$0.key]) }
        case .array(let a): return a.enumerated().flatMap { [prefix + ["\($0.offset)"]] + $0.element.paths(prefix + ["\($0.offset)"]) }
        default: return []
        }
    }

    func value(at path: [String]) -> JSONValue? {
        var v: JSONValue? = self
        for p in path {
            switch v {
            case .object(let o): v = o[p]
            case .array(let a): v = Int(p).flatMap { $0 < a.count ? a[$0] : nil }
            default: return nil
            }
        }
        return v
    }
}

/// Turns a valid example into a valid variant or a mutated (mostly invalid) one.
enum EventMutator {
    static let dateTimes = [
        ("ok-z", "2024-05-06T01:00:00Z"), ("ok-frac", "2024-05-06T09:00:00.125+08:00"), ("ok-lower", "2024-05-06t09:00:00z"),
        ("ok-neg", "2023-12-31T23:59:59-05:30"), ("ok-leap", "2024-02-29T12:00:00+08:00"),
        ("bad-month", "2024-13-01T00:00:00+08:00"), ("bad-day", "2024-02-30T10:00:00+08:00"), ("bad-space", "2024-05-06 09:00:00+08:00"),
        ("bad-nooffset", "2024-05-06T09:00:00"), ("bad-hour", "2024-05-06T24:00:00Z"), ("bad-leapsec", "2024-05-06T09:00:60Z"),
        ("bad-year0", "0000-01-01T00:00:00Z"), ("bad-offset", "2024-05-06T09:00:00+8:00"), ("bad-date-only", "2024-05-06"),
        ("bad-feb", "2023-02-29T00:00:00Z"), ("bad-frac", "2024-05-06T09:00:00.+08:00"),
    ]
    static let dates = [("ok", "1990-01-01"), ("ok-leap", "2000-02-29"), ("bad-short", "1990-1-01"), ("bad-day", "1990-02-30"),
                        ("bad-compact", "19900101"), ("bad-time", "1990-01-01T00:00:00Z"), ("bad-1900", "1900-02-29")]

    static func mutate(_ event: JSONValue, round: Int, using rng: inout SeededGenerator) -> (JSONValue, String) {
        let paths = event.paths().filter { $0.first != nil }
        switch round % 15 {
        case 0: // valid: new id and source
            return (event.setting(["id"], .string("evt-\(rng.next() % 1_000_000)")).setting(["source"], .string("urn:zhifa:device:X-\(rng.next() % 99)")), "valid-id")
        case 1: // valid: drop an optional data member
            let optional = ["summary", "caseNumber", "credentialsShown", "documents", "deviceClockOffsetMs", "fileName", "legalBasis", "facts",
                            "statementOrDefenceReceived", "heldAt", "evidence", "discretion", "reviewOpinionRef", "documentSha256", "witness", "lat", "lon"]
            for p in paths.shuffled(using: &rng) where p.count >= 2 && optional.contains(p.last!) {
                return (event.removing(p), "valid-drop-\(p.last!)")
            }
            return (event, "valid-unchanged")
        case 2, 3: // a date-time, valid or not
            let dts = paths.filter { p in if let s = event.value(at: p)?.stringValue { RFC3339Time.parse(s) != nil } else { false } }
            guard let p = dts.randomElement(using: &rng) else { return (event, "valid-unchanged") }
            let (label, v) = dateTimes.randomElement(using: &rng)!
            return (event.setting(p, .string(v)), "datetime-\(label)")
        case 4: // remove any member
            guard let p = paths.randomElement(using: &rng) else { return (event, "valid-unchanged") }
            return (event.removing(p), "remove-\(p.last!)")
        case 5: // unknown member somewhere in data
            let objects = [["data"]] + paths.filter { event.value(at: $0)?.objectValue != nil && $0.first == "data" }
            let p = objects.randomElement(using: &rng)!
            return (event.setting(p + ["unexpected"], .string("x")), "unknown-member")
        case 6: // wrong type
            guard let p = paths.randomElement(using: &rng), let v = event.value(at: p) else { return (event, "valid-unchanged") }
            let replacement: JSONValue
            switch v {
            case .string: replacement = .number(JSONNumber(7))
            case .number: replacement = .string("7")
            case .bool: replacement = .string("true")
            case .object: replacement = .array([])
            case .array: replacement = .object(JSONObject([]))
            case .null: replacement = .bool(false)
            }
            return (event.setting(p, replacement), "type-\(p.last!)")
        case 7: // string lengths: empty or very long (CJK)
            let strings = paths.filter { event.value(at: $0)?.stringValue != nil }
            guard let p = strings.randomElement(using: &rng) else { return (event, "valid-unchanged") }
            let n = [0, 1, 64, 65, 128, 129, 256, 257, 1025][Int(rng.next() % 9)]
            return (event.setting(p, .string(String(repeating: "法", count: n))), "length\(n)-\(p.last!)")
        case 8: // numbers: bounds, fractions, integral floats
            let numbers = paths.filter { event.value(at: $0)?.doubleValue != nil }
            guard let p = numbers.randomElement(using: &rng) else { return (event, "valid-unchanged") }
            let texts = ["-1", "0", "1.5", "100.0", "1e2", "100000000000", "100000000001", "1099511627777", "-90.5", "180", "181", "36501"]
            let t = texts.randomElement(using: &rng)!
            return (event.setting(p, .number(JSONNumber(text: t)!)), "number\(t)-\(p.last!)")
        case 9: // enum values
            let enums = ["kind", "category", "procedure", "actionType", "mediaType", "noticeType", "method", "partySignature", "decisionKind",
                         "change", "outcome", "role", "level", "idType", "confidentiality"]
            let hits = paths.filter { enums.contains($0.last!) }
            guard let p = hits.randomElement(using: &rng) else { return (event.setting(["type"], .string("cn.zhifa.unknown.v1")), "bad-type") }
            let v = ["fine", "warning", "general", "video/mp4", "inPerson", "nonsense", "FINE", ""].randomElement(using: &rng)!
            return (event.setting(p, .string(v)), "enum-\(p.last!)-\(v)")
        case 10: // patterns
            let ids = paths.filter { ["caseId", "actionId", "segmentId", "deviceId", "officerId", "sha256", "previousSegmentSha256", "creditCode", "decisionId"].contains($0.last!) }
            guard let p = ids.randomElement(using: &rng) else { return (event, "valid-unchanged") }
            let v = ["ok-id_1.2:3", "-starts-with-dash", "has space", "A" + String(repeating: "b", count: 127), String(repeating: "a", count: 64),
                     String(repeating: "A", count: 64), "91120222MA05K1234X", "9112022MA05K1234X0"].randomElement(using: &rng)!
            return (event.setting(p, .string(v)), "pattern-\(p.last!)")
        case 11: // arrays: empty or too many
            let arrays = paths.filter { event.value(at: $0)?.arrayValue != nil }
            guard let p = arrays.randomElement(using: &rng), let a = event.value(at: p)?.arrayValue, let first = a.first else { return (event, "valid-unchanged") }
            let n = [0, 2, 17, 33][Int(rng.next() % 4)]
            return (event.setting(p, .array(Array(repeating: first, count: n))), "items\(n)-\(p.last!)")
        case 12: // envelope attributes
            let choices: [([String], JSONValue)] = [
                (["specversion"], .string("1.1")), (["specversion"], .number(JSONNumber(text: "1.0")!)), (["datacontenttype"], .string("application/xml")),
                (["id"], .string("")), (["id"], .string(String(repeating: "i", count: 129))), (["type"], .string("cn.zhifa.case.closed.v1")),
            ]
            let (p, v) = choices.randomElement(using: &rng)!
            return (event.setting(p, v), "envelope-\(p[0])")
        case 13: // dates (birthDate) on a party, added if absent
            let (label, v) = dates.randomElement(using: &rng)!
            if event.value(at: ["data", "party"]) != nil { return (event.setting(["data", "party", "birthDate"], .string(v)), "date-\(label)") }
            return (event, "valid-unchanged")
        default: // several valid changes at once
            var e = event.setting(["id"], .string(UUID().uuidString.lowercased()))
            if let p = paths.first(where: { $0.last == "amountFen" }) { e = e.setting(p, .number(JSONNumber(Int64(rng.next() % 100_000_000)))) }
            return (e, "valid-multi")
        }
    }
}
