/// Finds the byte ranges of a JSON object's top-level members without decoding them, so a member
/// (CloudEvents `data`) can be kept exactly as the sender wrote it.
public enum JSONRawMembers {
    /// The raw bytes of each top-level member of the object in `bytes`, or nil if `bytes` is not
    /// a well-formed JSON object at the top level (values are skipped structurally, not validated).
    public static func members(of bytes: [UInt8]) -> [String: ArraySlice<UInt8>]? {
        var s = Scanner(bytes: bytes)
        s.skipWhitespace()
        guard s.consume(UInt8(ascii: "{")) else { return nil }
        var out: [String: ArraySlice<UInt8>] = [:]
        s.skipWhitespace()
        if s.consume(UInt8(ascii: "}")) { s.skipWhitespace(); return s.atEnd ? out : nil }
        while true {
            s.skipWhitespace()
            guard let keyRange = s.skipString(), let key = String(validating: bytes[keyRange.lowerBound + 1 ..< keyRange.upperBound - 1], as: UTF8.self) else { return nil }
            s.skipWhitespace()
            guard s.consume(UInt8(ascii: ":")) else { return nil }
            s.skipWhitespace()
            let start = s.index
            guard s.skipValue() else { return nil }
            out[key] = bytes[start..<s.index]
            s.skipWhitespace()
            if s.consume(UInt8(ascii: ",")) { continue }
            guard s.consume(UInt8(ascii: "}")) else { return nil }
            s.skipWhitespace()
            return s.atEnd ? out : nil
        }
    }

    /// The raw bytes of each element of the top-level array in `bytes`, or nil if it is not one.
    public static func elements(of bytes: [UInt8]) -> [ArraySlice<UInt8>]? {
        var s = Scanner(bytes: bytes)
        s.skipWhitespace()
        guard s.consume(UInt8(ascii: "[")) else { return nil }
        var out: [ArraySlice<UInt8>] = []
        s.skipWhitespace()
        if s.consume(UInt8(ascii: "]")) { s.skipWhitespace(); return s.atEnd ? out : nil }
        while true {
            s.skipWhitespace()
            let start = s.index
            guard s.skipValue() else { return nil }
            out.append(bytes[start..<s.index])
            s.skipWhitespace()
            if s.consume(UInt8(ascii: ",")) { continue }
            guard s.consume(UInt8(ascii: "]")) else { return nil }
            s.skipWhitespace()
            return s.atEnd ? out : nil
        }
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index >= bytes.count }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func consume(_ b: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == b else { return false }
            index += 1
            return true
        }

        /// Skips a string; returns its range including quotes.
        mutating func skipString() -> Range<Int>? {
            let start = index
            guard consume(UInt8(ascii: "\"")) else { return nil }
            while index < bytes.count {
                let b = bytes[index]
                index += 1
                if b == UInt8(ascii: "\\") { index += 1; continue }
                if b == UInt8(ascii: "\"") { return start..<index }
                if b < 0x20 { return nil }
            }
            return nil
        }

        mutating func skipValue(depth: Int = 0) -> Bool {
            guard depth < 512, index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""): return skipString() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                index += 1
                skipWhitespace()
                if consume(close) { return true }
                while true {
                    skipWhitespace()
                    if isObject {
                        guard skipString() != nil else { return false }
                        skipWhitespace()
                        guard consume(UInt8(ascii: ":")) else { return false }
                        skipWhitespace()
                    }
                    guard skipValue(depth: depth + 1) else { return false }
                    skipWhitespace()
                    if consume(UInt8(ascii: ",")) { continue }
                    return consume(close)
                }
            default:
                // number, true, false, null
                let start = index
                while index < bytes.count, !([0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[index])) { index += 1 }
                return index > start
            }
        }
    }
}
