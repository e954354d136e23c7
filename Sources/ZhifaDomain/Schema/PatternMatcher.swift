/// Matches a JSON Schema `pattern`. Patterns made of anchors, literals, character classes and
/// quantifiers (the contract's kind) run on a small backtracking matcher; anything else falls back
/// to Swift's `Regex`.
struct PatternMatcher: @unchecked Sendable {
    private enum Atom {
        case literal(Unicode.Scalar)
        case any
        case set([ClosedRange<UInt32>], negated: Bool)

        func matches(_ u: Unicode.Scalar) -> Bool {
            switch self {
            case .literal(let l): return l == u
            case .any: return u != "\n"
            case .set(let ranges, let negated): return ranges.contains { $0.contains(u.value) } != negated
            }
        }
    }

    private struct Piece {
        var atom: Atom
        var min: Int
        var max: Int  // Int.max for unbounded
    }

    private let pieces: [Piece]?
    private let anchoredStart: Bool
    private let anchoredEnd: Bool
    private let fallback: Regex<AnyRegexOutput>?

    init?(_ pattern: String) {
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
        let scalars = Array(s.unicodeScalars)
        if anchoredStart { return match(pieces, 0, scalars, 0) }
        for start in 0...scalars.count where match(pieces, 0, scalars, start) { return true }
        return false
    }

    private func match(_ pieces: [Piece], _ pi: Int, _ s: [Unicode.Scalar], _ si: Int) -> Bool {
        if pi == pieces.count { return !anchoredEnd || si == s.count }
        let p = pieces[pi]
        var n = 0
        var i = si
        while n < p.min {
            guard i < s.count, p.atom.matches(s[i]) else { return false }
            i += 1
            n += 1
        }
        // Greedy, then backtrack.
        var ends = [i]
        while n < p.max, i < s.count, p.atom.matches(s[i]) {
            i += 1
            n += 1
            ends.append(i)
        }
        for e in ends.reversed() where match(pieces, pi + 1, s, e) { return true }
        return false
    }

    private static func compile(_ pattern: String) -> ([Piece], Bool, Bool)? {
        var u = Array(pattern.unicodeScalars)
        var startAnchor = false
        var endAnchor = false
        if u.first == "^" { startAnchor = true; u.removeFirst() }
        if u.last == "$", u.count >= 1, !(u.count >= 2 && u[u.count - 2] == "\\") { endAnchor = true; u.removeLast() }
        var pieces: [Piece] = []
        var i = 0
        while i < u.count {
            let atom: Atom
            switch u[i] {
            case "[":
                i += 1
                var negated = false
                if i < u.count, u[i] == "^" { negated = true; i += 1 }
                var ranges: [ClosedRange<UInt32>] = []
                while i < u.count, u[i] != "]" {
                    var lo = u[i]
                    if lo == "\\" { i += 1; guard i < u.count else { return nil }; lo = u[i]; if "dswDSW".unicodeScalars.contains(lo) { return nil } }
                    if i + 2 < u.count, u[i + 1] == "-", u[i + 2] != "]" {
                        var hi = u[i + 2]
                        if hi == "\\" { return nil }
                        if hi.value < lo.value { swap(&hi, &lo) }
                        ranges.append(lo.value...hi.value)
                        i += 3
                    } else {
                        ranges.append(lo.value...lo.value)
                        i += 1
                    }
                }
                guard i < u.count else { return nil }
                i += 1
                atom = .set(ranges, negated: negated)
            case "\\":
                i += 1
                guard i < u.count else { return nil }
                switch u[i] {
                case "d": atom = .set([48...57], negated: false)
                case ".", "-", "\\", "/", "[", "]", "(", ")", "{", "}", "*", "+", "?", "^", "$", "|": atom = .literal(u[i])
                default: return nil
                }
                i += 1
            case ".":
                atom = .any
                i += 1
            case "(", ")", "|", "*", "+", "?", "{", "^", "$": return nil
            default:
                atom = .literal(u[i])
                i += 1
            }
            var minC = 1
            var maxC = 1
            if i < u.count {
                switch u[i] {
                case "*": minC = 0; maxC = .max; i += 1
                case "+": minC = 1; maxC = .max; i += 1
                case "?": minC = 0; maxC = 1; i += 1
                case "{":
                    guard let close = u[i...].firstIndex(of: "}") else { return nil }
                    let body = String(String.UnicodeScalarView(u[(i + 1)..<close]))
                    let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                    guard let a = Int(parts[0]) else { return nil }
                    minC = a
                    if parts.count == 1 { maxC = a } else if parts.count == 2 { maxC = parts[1].isEmpty ? .max : (Int(parts[1]) ?? -1) } else { return nil }
                    guard maxC >= minC else { return nil }
                    i = close + 1
                default: break
                }
                if i < u.count, u[i] == "?" || u[i] == "+" { return nil }  // lazy/possessive: use Regex
            }
            pieces.append(Piece(atom: atom, min: minC, max: maxC))
        }
        return (pieces, startAnchor, endAnchor)
    }
}
