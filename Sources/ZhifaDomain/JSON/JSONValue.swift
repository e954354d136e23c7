import Foundation

/// A JSON value with exact types: booleans are not numbers, and a number keeps whether its value is
/// integral (JSON Schema's `integer`), which Foundation's `JSONSerialization` blurs on Linux.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON Schema type name of this value (`integer` for integral numbers).
    public var schemaType: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.isIntegral ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The text of a string value.
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    /// The value of an integral number that fits in Int64.
    public var int64Value: Int64? { if case .number(let n) = self { n.int64 } else { nil } }
    /// The value of a number.
    public var doubleValue: Double? { if case .number(let n) = self { n.double } else { nil } }
    /// The value of a boolean.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// The elements of an array.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    /// The members of an object.
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }
}

/// A JSON number: its text and value.
public struct JSONNumber: Sendable, Equatable {
    /// The number as written.
    public var text: String
    /// Its value as a double.
    public var double: Double
    /// Its value, if integral and within Int64.
    public var int64: Int64?

    /// Whether the value is integral (1 and 1.0 both are).
    public var isIntegral: Bool { int64 != nil || (double.isFinite && double == double.rounded(.towardZero)) }

    /// Creates a number from its text.
    public init?(text: String) {
        guard let d = Double(text) else { return nil }
        self.text = text
        self.double = d
        if let i = Int64(text) { int64 = i } else if d.isFinite, d == d.rounded(.towardZero), abs(d) < 9.2e18 { int64 = Int64(d) } else { int64 = nil }
    }

    /// Creates a number from an integer.
    public init(_ value: Int64) {
        text = String(value)
        double = Double(value)
        int64 = value
    }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool {
        if let x = a.int64, let y = b.int64 { return x == y }
        return a.double == b.double
    }
}

/// A JSON object's members in document order (the last of duplicate keys wins on lookup).
public struct JSONObject: Sendable, Equatable {
    /// Members in order.
    public var members: [(key: String, value: JSONValue)]

    /// Creates an object.
    public init(_ members: [(key: String, value: JSONValue)]) { self.members = members }

    /// The value of `key`.
    public subscript(key: String) -> JSONValue? {
        for m in members.reversed() where m.key == key { return m.value }
        return nil
    }

    /// The distinct keys.
    public var keys: [String] {
        var seen = Set<String>()
        return members.compactMap { seen.insert($0.key).inserted ? $0.key : nil }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        let ak = Set(a.keys), bk = Set(b.keys)
        guard ak == bk else { return false }
        return ak.allSatisfy { a[$0] == b[$0] }
    }
}

/// Why bytes are not JSON, with the byte offset.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// Byte offset of the problem.
    public var offset: Int
    /// What is wrong.
    public var reason: String
    public var description: String { "not valid JSON at byte \(offset): \(reason)" }
}

extension JSONValue {
    /// Converts `JSONSerialization`-style values (dictionaries get sorted keys).
    public static func fromFoundation(_ v: Any?) -> JSONValue {
        switch v {
        case nil: return .null
        case let s as String: return .string(s)
        case let b as Bool: return .bool(b)
        case let i as Int: return .number(JSONNumber(Int64(i)))
        case let i as Int64: return .number(JSONNumber(i))
        case let i as Int32: return .number(JSONNumber(Int64(i)))
        case let d as Double: return .number(JSONNumber(text: String(d)) ?? JSONNumber(0))
        case let a as [Any]: return .array(a.map { fromFoundation($0) })
        case let a as [[String: Any]]: return .array(a.map { fromFoundation($0) })
        case let o as [String: Any]: return .object(JSONObject(o.keys.sorted().map { ($0, fromFoundation(o[$0])) }))
        case let o as [String: String]: return .object(JSONObject(o.keys.sorted().map { ($0, .string(o[$0]!)) }))
        default:
            if v is NSNull { return .null }
            return .string("\(v!)")
        }
    }
}
