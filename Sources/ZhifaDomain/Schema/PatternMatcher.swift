/// Matches a JSON Schema `pattern`. Patterns made of anchors, literals, character classes and
/// quantifiers (the contract's kind) run on a small backtracking matcher over UTF-8 bytes when
/// the pattern is ASCII-only and has no negated class; anything else falls back to Swift's `Regex`.
/// A class: the validator's compiled nodes refer to it without copying its tables.
final class PatternMatcher: @unchecked Sendable {
    /// The pattern as written in the schema.
    let source: String
    private struct ByteSet {
        var bits: (UInt64, UInt64) = (0, 0)

        mutating func insert(_ b: UInt8) {
            if b < 64 { bits.0 |= 1 << UInt64(b) } else { bits.1 |= 1 << UInt64(b - 64) }
        }

        func contains(_ b: UInt8) -> Bool {
            if b < 64 { return bits.0 & (1 << UInt64(b)) != 0 }
            if b < 128 { return bits.1 & (1 << UInt64(b - 64)) != 0 }
            return false
        }
    }

    private struct Piece {
        var set: ByteSet
        var min: Int
        var max: Int  // Int.max for unbounded
    }

    private let pieces: [Piece]?
    private let anchoredStart: Bool
    private let anchoredEnd: Bool
    private let fallback: Regex<AnyRegexOutput>?

    init?(_ pattern: String) {
        source = pattern
        if let (p, s, e) = Self.compile(pattern) {
            pieces = p
            anchoredStart = s
            anchoredEnd = e
            fallback = nil
        } else {
            guard let r = try? Regex(pattern) else { return nil }
            pieces = nil
            anchoredStart = false
            anchoredEnd = false
            fallback = r
        }
    }

    func matches(_ s: String) -> Bool {
        guard let pieces else { return (try? fallback?.firstMatch(in: s)) != nil }
        var copy = s
        return copy.withUTF8 { bytes in
            if anchoredStart { return match(pieces, 0, bytes, 0) }
            for start in 0...bytes.count where match(pieces, 0, bytes, start) { return true }
            return false
        }
    }

    private func match(_ pieces: [Piece], _ pi: Int, _ s: UnsafeBufferPointer<UInt8>, _ si: Int) -> Bool {
        if pi == pieces.count { return !anchoredEnd || si == s.count }
        let p = pieces[pi]
        var i = si
        var n = 0
        while n < p.min {
            guard i < s.count, p.set.contains(s[i]) else { return false }
            i += 1
            n += 1
        }
        var longest = i
        while n < p.max, longest < s.count, p.set.contains(s[longest]) {
            longest += 1
            n += 1
        }
        // Greedy, then backtrack one byte at a time.
        var end = longest
        while end >= i {
            if match(pieces, pi + 1, s, end) { return true }
            end -= 1
        }
        return false
    }

    /// Compiles ASCII patterns of literals, `.`, `[...]` classes and `{n}`, `{n,m}`, `*`, `+`, `?`.
    private static func compile(_ pattern: String) -> ([Piece], Bool, Bool)? {
        var u = Array(pattern.utf8)
        guard u.allSatisfy({ $0 < 128 }) else { return nil }
        var startAnchor = false
        var endAnchor = false
        if u.first == UInt8(ascii: "^") { startAnchor = true; u.removeFirst() }
        if u.last == UInt8(ascii: "$"), !(u.count >= 2 && u[u.count - 2] == UInt8(ascii: "\\")) { endAnchor = true; u.removeLast() }
        var pieces: [Piece] = []
        var i = 0
        func set(_ ranges: [ClosedRange<UInt8>]) -> ByteSet {
            var s = ByteSet()
            for r in ranges { for b in r { s.insert(b) } }
            return s
        }
        while i < u.count {
            var atom: ByteSet
            switch u[i] {
            case UInt8(ascii: "["):
                i += 1
                guard i < u.count, u[i] != UInt8(ascii: "^") else { return nil }
                var ranges: [ClosedRange<UInt8>] = []
                while i < u.count, u[i] != UInt8(ascii: "]") {
                    var lo = u[i]
                    if lo == UInt8(ascii: "\\") {
                        i += 1
                        guard i < u.count else { return nil }
                        lo = u[i]
                        if lo == UInt8(ascii: "d") { ranges.append(48...57); i += 1; continue }
                        if Array("swDSW".utf8).contains(lo) { return nil }
                    }
                    if i + 2 < u.count, u[i + 1] == UInt8(ascii: "-"), u[i + 2] != UInt8(ascii: "]") {
                        let hi = u[i + 2]
                        guard hi != UInt8(ascii: "\\"), hi >= lo else { return nil }
                        ranges.append(lo...hi)
                        i += 3
                    } else {
                        ranges.append(lo...lo)
                        i += 1
                    }
                }
                guard i < u.count else { return nil }
                i += 1
                atom = set(ranges)
            case UInt8(ascii: "\\"):
                i += 1
                guard i < u.count else { return nil }
                if u[i] == UInt8(ascii: "d") { atom = set([48...57]) } else if Array(".-\\/[](){}*+?^$|".utf8).contains(u[i]) { atom = set([u[i]...u[i]]) } else { return nil }
                i += 1
            case UInt8(ascii: "."):
                return nil  // `.` matches non-ASCII characters too: leave it to Regex
            case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "|"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"), UInt8(ascii: "^"), UInt8(ascii: "$"):
                return nil
            default:
                atom = set([u[i]...u[i]])
                i += 1
            }
            var minC = 1
            var maxC = 1
            if i < u.count {
                switch u[i] {
                case UInt8(ascii: "*"): minC = 0; maxC = .max; i += 1
                case UInt8(ascii: "+"): minC = 1; maxC = .max; i += 1
                case UInt8(ascii: "?"): minC = 0; maxC = 1; i += 1
                case UInt8(ascii: "{"):
                    guard let close = u[i...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
                    let body = String(decoding: u[(i + 1)..<close], as: UTF8.self)
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                    guard let a = Int(parts[0]) else { return nil }
                    minC = a
                    if parts.count == 1 { maxC = a } else if parts.count == 2 { maxC = parts[1].isEmpty ? .max : (Int(parts[1]) ?? -1) } else { return nil }
                    guard maxC >= minC else { return nil }
                    i = close + 1
                default: break
                }
                if i < u.count, u[i] == UInt8(ascii: "?") || u[i] == UInt8(ascii: "+") { return nil }
            }
            pieces.append(Piece(set: atom, min: minC, max: maxC))
        }
        return (pieces, startAnchor, endAnchor)
    }
}
