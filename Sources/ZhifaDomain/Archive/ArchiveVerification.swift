import Foundation

/// A problem found by 四性检测 (DA/T 70-2018), naming the entry where it is.
public struct ArchiveProblem: Codable, Sendable, Equatable, CustomStringConvertible {
    /// `authenticity`, `integrity`, `usability` or `security`.
    public var property: String
    public var chain: String?
    public var sequence: Int64?
    public var eventId: String?
    public var problem: String

    public init(property: String, chain: String? = nil, sequence: Int64? = nil, eventId: String? = nil, problem: String) {
        self.property = property
        self.chain = chain
        self.sequence = sequence
        self.eventId = eventId
        self.problem = problem
    }

    /// `chain #sequence (eventId)`, or nil for problems not tied to an entry.
    public var entryName: String? {
        guard let chain, let sequence else { return nil }
        return "\(chain) #\(sequence)" + (eventId.map { " (\($0))" } ?? "")
    }

    public var description: String { (entryName.map { "\($0): " } ?? "") + problem }
}

/// Content types a stored payload may have (usability: formats on the allow-list).
public enum ArchiveFormats {
    public static let allowed: Set<String> = ["application/json", "application/cloudevents+json"]

    /// The media type without parameters, lower-cased.
    public static func mediaType(_ contentType: String) -> String {
        (contentType.split(separator: ";").first.map(String.init) ?? contentType).trimmingCharacters(in: .whitespaces).lowercased()
    }
}

/// Checks one chain entry by entry, in sequence order, without holding it in memory. Pure.
public struct ChainChecker: Sendable {
    public let chain: String
    public private(set) var problems: [ArchiveProblem] = []
    public private(set) var count: Int64 = 0
    private var expected: Int64 = 1
    private var previousHash = ArchiveChain.genesis
    private var lastOffset: Int64 = -1
    public private(set) var lastSequence: Int64 = 0
    public private(set) var lastHash = ArchiveChain.genesis

    public init(chain: String) { self.chain = chain }

    mutating func add(_ property: String, _ e: ArchiveEntry, _ problem: String) {
        problems.append(ArchiveProblem(property: property, chain: chain, sequence: e.sequence, eventId: e.eventId, problem: problem))
    }

    /// Checks the next stored entry. `payload` is nil when the store has no payload for it;
    /// `tombstoned` says whether a tombstone accounts for that.
    public mutating func feed(_ e: ArchiveEntry, payload: [UInt8]?, tombstoned: Bool) {
        count += 1
        // Integrity: sequence numbers from 1 without gaps.
        if e.sequence != expected {
            add("integrity", e, e.sequence > expected
                ? "sequence \(expected)\(e.sequence - expected > 1 ? "–\(e.sequence - 1)" : "") missing before this entry (deleted?)"
                : "sequence \(e.sequence) out of order (expected \(expected))")
        }
        expected = e.sequence + 1
        // Authenticity: the link to the previous entry and the entry's own hash.
        if e.prevHash != previousHash {
            add("authenticity", e, "does not follow the previous stored entry: its recorded previous hash differs (an entry was removed, inserted or reordered before it)")
        }
        if e.kind == .message {
            if e.offset <= lastOffset { add("authenticity", e, "offset \(e.offset) not after the previous entry's \(lastOffset)") }
            lastOffset = max(lastOffset, e.offset)
        }
        problems += Self.entryProblems(e, payload: payload, tombstoned: tombstoned)
        previousHash = e.hash
        lastSequence = e.sequence
        lastHash = e.hash
    }

    /// The problems of one entry on its own: its hash against its content, plausible metadata,
    /// its payload against its digest (or a tombstone for a removed payload), its format.
    public static func entryProblems(_ e: ArchiveEntry, payload: [UInt8]?, tombstoned: Bool) -> [ArchiveProblem] {
        var out: [ArchiveProblem] = []
        func add(_ property: String, _ problem: String) {
            out.append(ArchiveProblem(property: property, chain: e.chain, sequence: e.sequence, eventId: e.eventId, problem: problem))
        }
        if ArchiveChain.link(prevHash: e.prevHash, digest: ArchiveChain.digest(e)) != e.hash { add("authenticity", "altered: the entry's hash does not match its content") }
        if RFC3339Time.parse(e.receivedAt) == nil { add("authenticity", "receive time \(e.receivedAt) is not a time") }
        if e.kind == .message, !ArchiveChain.holds(e.chain, topic: e.topic, partition: e.partition) {
            add("authenticity", "topic-partition \(e.topic)/\(e.partition) does not belong to chain \(e.chain)")
        }
        if e.eventId.isEmpty || e.hash.count != 64 || e.payloadSha256.count != 64 { add("integrity", "required metadata missing (event id, hash or payload digest)") }
        if let payload {
            if payload.count != e.payloadSize || ArchiveChain.sha256Hex(payload) != e.payloadSha256 {
                add("authenticity", "payload altered: its SHA-256 does not match the entry")
            } else if e.valid {
                let type = e.header("content-type").map(ArchiveFormats.mediaType)
                if let type, !ArchiveFormats.allowed.contains(type) { add("usability", "format \(type) is not on the allow-list") }
                if (try? JSONParser.parse(payload)) == nil { add("usability", "payload does not parse as JSON") }
            }
        } else if !tombstoned {
            add("integrity", "payload missing and no tombstone accounts for it")
        }
        return out
    }

    /// Compares the end of the chain with its recorded head.
    public mutating func finish(head: (sequence: Int64, hash: String)?) {
        guard let head else {
            if count > 0 { problems.append(ArchiveProblem(property: "integrity", chain: chain, problem: "no chain head is recorded for \(count) entries")) }
            return
        }
        if head.sequence != lastSequence || head.hash != lastHash {
            problems.append(ArchiveProblem(property: "integrity", chain: chain, sequence: head.sequence,
                                           problem: head.sequence > lastSequence
                                               ? "the chain head records sequence \(head.sequence) but the last stored entry is \(lastSequence): entries were removed from the end"
                                               : "the chain head (sequence \(head.sequence)) does not match the last stored entry (sequence \(lastSequence))"))
        }
    }
}

/// One entry of the access audit log (who did what, when), itself hash-chained.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var sequence: Int64
    public var at: String
    public var actor: String
    public var action: String
    public var target: String
    public var prevHash: String
    public var hash: String

    public init(sequence: Int64, at: String, actor: String, action: String, target: String, prevHash: String = "", hash: String = "") {
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The digest of its fields.
    public var digest: String {
        let v: JSONValue = .object(JSONObject([
            ("sequence", .number(JSONNumber(sequence))), ("at", .string(at)), ("actor", .string(actor)), ("action", .string(action)),
            ("target", .string(target)), ("format", .string("zhifa-audit-entry/1")),
        ]))
        return ArchiveChain.sha256Hex(v.jsonBytes)
    }

    /// Seals it after the previous audit entry's hash.
    public mutating func seal(after prev: String) {
        prevHash = prev
        hash = ArchiveChain.link(prevHash: prev, digest: digest)
    }

    /// Problems of an audit log read in order.
    public static func check(_ entries: [AuditEntry], head: (sequence: Int64, hash: String)?) -> [ArchiveProblem] {
        var out: [ArchiveProblem] = []
        var prev = ArchiveChain.genesis
        var expected: Int64 = 1
        for e in entries {
            let name = "audit #\(e.sequence)"
            if e.sequence != expected { out.append(ArchiveProblem(property: "security", chain: "audit", sequence: e.sequence, problem: "\(name): audit entry \(expected) missing") ) }
            if e.prevHash != prev { out.append(ArchiveProblem(property: "security", chain: "audit", sequence: e.sequence, problem: "\(name) does not follow the previous audit entry")) }
            if ArchiveChain.link(prevHash: e.prevHash, digest: e.digest) != e.hash { out.append(ArchiveProblem(property: "security", chain: "audit", sequence: e.sequence, problem: "\(name) altered")) }
            prev = e.hash
            expected = e.sequence + 1
        }
        if let head, head.sequence != expected - 1 || head.hash != prev {
            out.append(ArchiveProblem(property: "security", chain: "audit", problem: "the audit log's head (sequence \(head.sequence)) does not match its last entry (\(expected - 1)): audit entries were removed"))
        }
        return out
    }
}

/// The 四性检测 report: authenticity 真实性, integrity 完整性, usability 可用性, security 安全性.
public struct FourPropertiesReport: Codable, Sendable {
    public struct Property: Codable, Sendable {
        public var name: String
        public var nameZh: String
        public var ok: Bool
        public var problemCount: Int
        /// The first problems (at most 100).
        public var problems: [ArchiveProblem]
    }

    public var scope: String
    public var checkedAt: String
    public var ok: Bool
    public var entries: Int64
    public var chains: Int
    public var authenticity: Property
    public var integrity: Property
    public var usability: Property
    public var security: Property
    /// The first entry with a problem, e.g. `zhifa.events.v1/3 #17 (evt-0017)`.
    public var firstBadEntry: String?

    public init(scope: String, checkedAt: Date, entries: Int64, chains: Int, problems: [ArchiveProblem]) {
        func property(_ n: String, _ zh: String) -> Property {
            let p = problems.filter { $0.property == n }
            return Property(name: n, nameZh: zh, ok: p.isEmpty, problemCount: p.count, problems: Array(p.prefix(100)))
        }
        self.scope = scope
        self.checkedAt = ChinaTime.formatMillis(checkedAt)
        self.entries = entries
        self.chains = chains
        authenticity = property("authenticity", "真实性")
        integrity = property("integrity", "完整性")
        usability = property("usability", "可用性")
        security = property("security", "安全性")
        ok = problems.isEmpty
        firstBadEntry = problems.lazy.compactMap(\.entryName).first
    }

    /// The report as text for operators.
    public var text: String {
        var lines = ["四性检测 (DA/T 70-2018) — \(scope): \(ok ? "PASS" : "FAIL")", "\(entries) entries in \(chains) chain(s), checked \(checkedAt)"]
        for p in [authenticity, integrity, usability, security] {
            lines.append("  \(p.nameZh) \(p.name): \(p.ok ? "ok" : "\(p.problemCount) problem(s)")")
            for x in p.problems.prefix(10) { lines.append("    - \(x)") }
        }
        if let f = firstBadEntry { lines.append("first bad entry: \(f)") }
        return lines.joined(separator: "\n")
    }
}
