import Foundation
import GRDB
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A chain's latest entry.
public struct ChainHead: Codable, Sendable, Equatable {
    public var chain: String
    public var sequence: Int64
    public var hash: String
    public var at: String

    public init(chain: String, sequence: Int64, hash: String, at: String) {
        self.chain = chain
        self.sequence = sequence
        self.hash = hash
        self.at = at
    }
}

/// What appending a batch did.
public struct AppendOutcome: Sendable {
    /// One receipt per valid message with a `ce_id`, new or already archived.
    public var receipts: [ArchiveReceipt]
    public var appended: Int
    public var duplicates: Int
    /// Chains begun by this batch because a topic-partition's log started again at a lower offset
    /// (a restarted embedded broker, a recreated topic).
    public var newLogs: [String] = []
}

/// One link of a chain, for proofs: enough to recompute the chain's hashes without the entries.
public struct ChainLink: Codable, Sendable, Equatable {
    public var sequence: Int64
    public var digest: String
    public var prevHash: String
    public var hash: String
}

/// The archive's append-only storage. SQLite by default; another database implements this protocol.
public protocol ArchiveStore: Sendable {
    /// Appends a batch in order, one transaction (durable on return); idempotent on `eventId`.
    func append(_ messages: [IncomingMessage]) async throws -> AppendOutcome
    /// Every chain's head.
    func heads() async throws -> [ChainHead]
    /// Records heads as published to the receipts topic.
    func recordPublished(_ heads: [ChainHead]) async throws
    /// The latest published head of a chain.
    func publishedHead(_ chain: String) async throws -> ChainHead?
    /// A case's entries with payloads.
    func caseItems(_ caseId: String) async throws -> [ArchivedItem]
    /// The previous recording of a device before `segment` (across every case).
    func predecessor(of segment: AVSegmentRegistered) async throws -> DevicePredecessor
    /// The links of a chain from `from` through `to`.
    func links(chain: String, from: Int64, through: Int64) async throws -> [ChainLink]
    /// 四性检测 over everything, or over one case's entries.
    func verify(caseId: String?, now: Date) async throws -> FourPropertiesReport
    /// Writes an audit entry (who, what, when), chained.
    func audit(actor: String, action: String, target: String, at: Date) async throws
    func auditLog() async throws -> [AuditEntry]
    /// Removes expired payloads of closed cases, leaving tombstones; returns how many.
    func applyRetention(rules: RetentionRules, now: Date) async throws -> Int
    /// Entries stored.
    func count() async throws -> Int64
    func close() async
}

/// The SQLite archive store (WAL, `synchronous=FULL`).
public final class SQLiteArchiveStore: ArchiveStore {
    let pool: DatabasePool

    public init(path: String) throws {
        pool = try SQLiteStore.open(path)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS entries (
                    chain TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, event_id TEXT NOT NULL,
                    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, key TEXT, headers TEXT NOT NULL,
                    received_at TEXT NOT NULL, valid INTEGER NOT NULL, invalid_reason TEXT, case_id TEXT, event_type TEXT,
                    payload_sha256 TEXT NOT NULL, payload_size INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
                    payload BLOB, device_id TEXT, segment_id TEXT, started_at REAL,
                    PRIMARY KEY (chain, seq));
                CREATE UNIQUE INDEX IF NOT EXISTS entries_event ON entries (event_id);
                CREATE INDEX IF NOT EXISTS entries_case ON entries (case_id);
                DROP INDEX IF EXISTS entries_device;
                CREATE INDEX IF NOT EXISTS entries_device_order ON entries (device_id, started_at, segment_id) WHERE device_id IS NOT NULL;
                CREATE INDEX IF NOT EXISTS entries_closed ON entries (case_id) WHERE event_type = '\(EventType.caseClosed.rawValue)' AND valid = 1;
                CREATE TABLE IF NOT EXISTS heads (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, at TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS published_heads (chain TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (chain, seq));
                CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
                    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
                """)
        }
    }

    // MARK: rows

    /// The columns `entry(_:)` and `entryPayload(_:)` read, by position (GRDB's lookup by name
    /// lowercases every name on every row: a third of verify's time).
    static let entryColumns = """
        chain, seq, kind, event_id, topic, partition, offset, key, headers, received_at, valid, invalid_reason, case_id, event_type,
        payload_sha256, payload_size, prev_hash, hash, payload
        """

    /// An entry from a row selected with `entryColumns`.
    static func entry(_ r: Row) -> ArchiveEntry {
        let headers = ((try? JSONParser.parse(Array((r[8] as String).utf8)))?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue) }
        return ArchiveEntry(
            chain: r[0], sequence: r[1], kind: ArchiveEntry.Kind(rawValue: r[2]) ?? .message, eventId: r[3], topic: r[4],
            partition: r[5], offset: r[6], key: r[7], headers: headers, receivedAt: r[9], valid: r[10],
            invalidReason: r[11], caseId: r[12], eventType: r[13], payloadSha256: r[14],
            payloadSize: r[15], prevHash: r[16], hash: r[17])
    }

    /// The payload of a row selected with `entryColumns`.
    static func entryPayload(_ r: Row) -> [UInt8]? { (r[18] as Data?).map { Array($0) } }

    static func payload(_ r: Row) -> [UInt8]? { (r["payload"] as Data?).map { Array($0) } }

    /// Moves a chain's head (once per chain per transaction).
    static func setHead(_ db: Database, chain: String, sequence: Int64, hash: String, at: String) throws {
        try db.cachedStatement(sql: "INSERT INTO heads (chain, seq, hash, at) VALUES (?, ?, ?, ?) ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at")
            .execute(arguments: [chain, sequence, hash, at])
    }

    static func head(_ db: Database, _ chain: String) throws -> (Int64, String) {
        if let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM heads WHERE chain = ?"), arguments: [chain]) { return (r["seq"], r["hash"]) }
        return (0, ArchiveChain.genesis)
    }

    /// The log of a topic-partition the archive is appending to: its chain and last offset.
    struct CurrentLog {
        var chain: String
        var lastOffset: Int64
    }

    /// The current log of the topic-partition whose first chain is `base`: its chain of the
    /// highest incarnation, and that chain's last offset (-1 for none yet).
    static func currentLog(_ db: Database, base: String, topic: String, partition: Int32) throws -> CurrentLog {
        let chains = try String.fetchAll(db.cachedStatement(sql: "SELECT chain FROM heads"))
            .filter { ArchiveChain.holds($0, topic: topic, partition: partition) }
        let chain = chains.max { ArchiveChain.incarnation(of: $0) < ArchiveChain.incarnation(of: $1) } ?? base
        let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT offset FROM entries WHERE chain = ? ORDER BY seq DESC LIMIT 1"), arguments: [chain])
        return CurrentLog(chain: chain, lastOffset: last ?? -1)
    }

    /// Whether a message at or below its log's last offset is one already archived (redelivered,
    /// or sent again), rather than a message of a log that started again: an entry with its id
    /// (its place in `chain`, for a message without a `ce_id`) and the same bytes, or the entry
    /// that marked it as a `ce_id` re-used with other bytes.
    static func isArchived(_ db: Database, _ m: IncomingMessage, _ stored: StoredFields, chain: String) throws -> Bool {
        let id = m.hasFallbackId ? ArchiveChain.fallbackEventId(chain: chain, offset: m.offset) : m.eventId
        let sha = try String.fetchOne(db.cachedStatement(sql: "SELECT payload_sha256 FROM entries WHERE event_id = ?"), arguments: [id])
        if sha == stored.payloadSha256 { return true }
        guard sha != nil, !m.hasFallbackId else { return false }
        return try String.fetchOne(db.cachedStatement(sql: "SELECT event_id FROM entries WHERE event_id = ?"),
                                   arguments: ["\(id)#\(stored.payloadSha256.prefix(16))"]) != nil
    }

    // MARK: append

    public func append(_ messages: [IncomingMessage]) async throws -> AppendOutcome {
        try await pool.write { db in
            var receipts: [ArchiveReceipt] = []
            var appended = 0
            var duplicates = 0
            var newLogs: [String] = []
            var heads: [String: (seq: Int64, hash: String, at: String)] = [:]  // moved in this batch
            var logs: [String: CurrentLog] = [:]  // by first chain, as read or moved in this batch
            var receivedText: (Date, String)? = nil  // a batch shares one receive time
            for m in messages {
                let stored = m.storedFields
                if receivedText?.0 != m.receivedAt { receivedText = (m.receivedAt, ChinaTime.formatMillis(m.receivedAt)) }
                var log = try logs[stored.chain] ?? Self.currentLog(db, base: stored.chain, topic: m.topic, partition: m.partition)
                if m.offset <= log.lastOffset, try !Self.isArchived(db, m, stored, chain: log.chain) {
                    // Not a message seen before, at an offset already passed: the log started again.
                    log = CurrentLog(chain: ArchiveChain.chain(topic: m.topic, partition: m.partition, incarnation: ArchiveChain.incarnation(of: log.chain) + 1),
                                     lastOffset: -1)
                    newLogs.append(log.chain)
                }
                logs[stored.chain] = log
                let eventId = log.chain != stored.chain && m.hasFallbackId ? ArchiveChain.fallbackEventId(chain: log.chain, offset: m.offset) : m.eventId
                let (seq, prev) = try heads[log.chain].map { ($0.seq, $0.hash) } ?? Self.head(db, log.chain)
                var e = ArchiveEntry(chain: log.chain, sequence: seq + 1, kind: .message, eventId: eventId, topic: m.topic, partition: m.partition, offset: m.offset,
                                     key: stored.keyBase64, headers: stored.headers, receivedAt: receivedText!.1, valid: m.valid, invalidReason: m.invalidReason,
                                     caseId: m.caseId, eventType: m.eventType, payloadSha256: stored.payloadSha256, payloadSize: Int64(m.value.count), prevHash: "", hash: "")
                ArchiveChain.seal(&e, after: prev)
                // New event ids (the common case) are inserted straight away; the unique index on
                // event_id turns a repeated one into no insert, handled below.
                var inserted = try EntryInsert.run(db, e, headersJSON: stored.headersJSON, payload: m.value, deviceId: m.valid ? m.deviceId : nil,
                                                   segmentId: m.valid ? m.segmentId : nil, startedAt: m.valid ? m.startedAt : nil)
                if !inserted {
                    let existing = try Row.fetchOne(db.cachedStatement(sql: "SELECT chain, seq, hash, valid, payload_sha256, topic, partition, offset, received_at FROM entries WHERE event_id = ?"),
                                                    arguments: [eventId])
                    guard let existing else { throw DatabaseError(message: "an entry with event id \(eventId) was neither inserted nor found") }
                    if existing["payload_sha256"] as String == stored.payloadSha256 || !m.valid {
                        duplicates += 1
                        if existing["valid"] as Bool, let ceId = m.ceId {
                            receipts.append(ArchiveReceipt(eventId: ceId, topic: existing["topic"], partition: existing["partition"], offset: existing["offset"],
                                                           chain: existing["chain"], sequence: existing["seq"], entryHash: existing["hash"], valid: true,
                                                           archivedAt: existing["received_at"]))
                        }
                        continue
                    }
                    // The same ce_id with other bytes: kept, as what was sent, but marked (once).
                    e.eventId = "\(eventId)#\(stored.payloadSha256.prefix(16))"
                    e.valid = false
                    e.invalidReason = "ce_id \(eventId) was already archived with different content (\(existing["chain"] as String) #\(existing["seq"] as Int64))"
                    ArchiveChain.seal(&e, after: prev)
                    inserted = try EntryInsert.run(db, e, headersJSON: stored.headersJSON, payload: m.value, deviceId: nil, segmentId: nil, startedAt: nil)
                    if !inserted {
                        duplicates += 1
                        continue
                    }
                }
                heads[log.chain] = (e.sequence, e.hash, e.receivedAt)
                logs[stored.chain]!.lastOffset = max(log.lastOffset, m.offset)
                appended += 1
                if e.valid, let ceId = m.ceId {
                    receipts.append(ArchiveReceipt(eventId: ceId, topic: m.topic, partition: m.partition, offset: m.offset, chain: e.chain, sequence: e.sequence,
                                                   entryHash: e.hash, valid: true, archivedAt: e.receivedAt))
                }
            }
            for (chain, h) in heads { try Self.setHead(db, chain: chain, sequence: h.seq, hash: h.hash, at: h.at) }
            return AppendOutcome(receipts: receipts, appended: appended, duplicates: duplicates, newLogs: newLogs)
        }
    }

    // MARK: heads

    public func heads() async throws -> [ChainHead] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT chain, seq, hash, at FROM heads WHERE chain != 'audit' ORDER BY chain").map {
                ChainHead(chain: $0["chain"], sequence: $0["seq"], hash: $0["hash"], at: $0["at"])
            }
        }
    }

    public func recordPublished(_ heads: [ChainHead]) async throws {
        try await pool.write { db in
            for h in heads {
                try db.execute(sql: "INSERT OR IGNORE INTO published_heads (chain, seq, hash, at) VALUES (?, ?, ?, ?)", arguments: [h.chain, h.sequence, h.hash, h.at])
            }
        }
    }

    public func publishedHead(_ chain: String) async throws -> ChainHead? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT chain, seq, hash, at FROM published_heads WHERE chain = ? ORDER BY seq DESC LIMIT 1", arguments: [chain]).map {
                ChainHead(chain: $0["chain"], sequence: $0["seq"], hash: $0["hash"], at: $0["at"])
            }
        }
    }

    // MARK: reads

    public func caseItems(_ caseId: String) async throws -> [ArchivedItem] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entries WHERE case_id = ? ORDER BY chain, seq", arguments: [caseId]).map {
                ArchivedItem(entry: Self.entry($0), payload: Self.entryPayload($0))
            }
        }
    }

    /// The archived recording just before a recording (its start and id) on its device. The
    /// row-value comparison walks `entries_device_order` backwards and stops at the first row, where
    /// an `OR` of the two orderings read and sorted the device's whole history for every segment of
    /// every completeness report.
    static let previousOnDevice = """
        SELECT payload FROM entries WHERE device_id = ? AND (started_at, segment_id) < (?, ?) AND segment_id != ?
        ORDER BY started_at DESC, segment_id DESC LIMIT 1
        """

    public func predecessor(of segment: AVSegmentRegistered) async throws -> DevicePredecessor {
        try await pool.read { db in
            guard let r = try Row.fetchOne(db, sql: Self.previousOnDevice,
                                           arguments: [segment.deviceId, segment.startedAt.date.timeIntervalSince1970, segment.segmentId, segment.segmentId]),
                  let payload = Self.payload(r), let s = try? JSONDecoder().decode(AVSegmentRegistered.self, from: Data(payload)) else { return .none }
            return .known(segmentId: s.segmentId, sha256: s.sha256, endedAt: s.endedAt.date)
        }
    }

    public func links(chain: String, from: Int64, through: Int64) async throws -> [ChainLink] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entries WHERE chain = ? AND seq BETWEEN ? AND ? ORDER BY seq", arguments: [chain, from, through]).map {
                let e = Self.entry($0)
                return ChainLink(sequence: e.sequence, digest: ArchiveChain.digest(e), prevHash: e.prevHash, hash: e.hash)
            }
        }
    }

    public func count() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM entries") ?? 0 }
    }

    // MARK: audit

    public func audit(actor: String, action: String, target: String, at: Date) async throws {
        try await pool.write { db in
            let (seq, prev) = try Self.head(db, "audit")
            var a = AuditEntry(sequence: seq + 1, at: ChinaTime.formatMillis(at), actor: actor, action: action, target: target)
            a.seal(after: prev)
            try db.execute(sql: "INSERT INTO audit (seq, at, actor, action, target, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [a.sequence, a.at, a.actor, a.action, a.target, a.prevHash, a.hash])
            try db.execute(sql: "INSERT INTO heads (chain, seq, hash, at) VALUES ('audit', ?, ?, ?) ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at",
                           arguments: [a.sequence, a.hash, a.at])
        }
    }

    public func auditLog() async throws -> [AuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq").map {
                AuditEntry(sequence: $0["seq"], at: $0["at"], actor: $0["actor"], action: $0["action"], target: $0["target"], prevHash: $0["prev_hash"], hash: $0["hash"])
            }
        }
    }

    // MARK: verify

    /// Tombstones by the entry they stand for, from the retention chain.
    static func tombstones(_ db: Database) throws -> [String: Tombstone] {
        var out: [String: Tombstone] = [:]
        for r in try Row.fetchAll(db, sql: "SELECT payload FROM entries WHERE chain = ?", arguments: [ArchiveChain.retentionChain]) {
            if let p = payload(r), let t = try? JSONDecoder().decode(Tombstone.self, from: Data(p)) { out["\(t.chain)#\(t.sequence)"] = t }
        }
        return out
    }

    public func verify(caseId: String?, now: Date) async throws -> FourPropertiesReport {
        try await pool.read { db in
            let tombstones = try Self.tombstones(db)
            var problems: [ArchiveProblem] = []
            var entries: Int64 = 0
            var chains = 0
            let heads = Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT chain, seq, hash FROM heads").map { ($0["chain"] as String, ($0["seq"] as Int64, $0["hash"] as String)) })
            if let caseId {
                // The case's entries, each checked with its neighbours in its chain.
                let rows = try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entries WHERE case_id = ? ORDER BY chain, seq", arguments: [caseId])
                chains = Set(rows.map { $0["chain"] as String }).count
                for r in rows {
                    let e = Self.entry(r)
                    entries += 1
                    problems += ChainChecker.entryProblems(e, payload: Self.entryPayload(r), tombstoned: tombstones["\(e.chain)#\(e.sequence)"] != nil)
                    let prev = e.sequence == 1 ? ArchiveChain.genesis
                        : try String.fetchOne(db, sql: "SELECT hash FROM entries WHERE chain = ? AND seq = ?", arguments: [e.chain, e.sequence - 1])
                    if prev == nil { problems.append(.init(property: "integrity", chain: e.chain, sequence: e.sequence, eventId: e.eventId, problem: "the entry before it (sequence \(e.sequence - 1)) is missing")) }
                    if let prev, prev != e.prevHash {
                        problems.append(.init(property: "authenticity", chain: e.chain, sequence: e.sequence, eventId: e.eventId, problem: "does not follow the previous stored entry: its recorded previous hash differs"))
                    }
                    if let next = try String.fetchOne(db, sql: "SELECT prev_hash FROM entries WHERE chain = ? AND seq = ?", arguments: [e.chain, e.sequence + 1]), next != e.hash {
                        problems.append(.init(property: "authenticity", chain: e.chain, sequence: e.sequence, eventId: e.eventId, problem: "the next entry does not follow it: this entry or the next was changed"))
                    }
                }
                if rows.isEmpty { problems.append(.init(property: "integrity", problem: "no entries are archived for case \(caseId)")) }
            } else {
                for chain in try String.fetchAll(db, sql: "SELECT DISTINCT chain FROM entries ORDER BY chain") {
                    chains += 1
                    var checker = ChainChecker(chain: chain)
                    var last: Int64 = -.max
                    while true {
                        let rows = try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM entries WHERE chain = ? AND seq > ? ORDER BY seq LIMIT 5000", arguments: [chain, last])
                        guard !rows.isEmpty else { break }
                        for r in rows {
                            let e = Self.entry(r)
                            checker.feed(e, payload: Self.entryPayload(r), tombstoned: tombstones["\(e.chain)#\(e.sequence)"] != nil)
                            last = e.sequence
                        }
                    }
                    checker.finish(head: heads[chain])
                    entries += checker.count
                    problems += checker.problems
                }
                for (chain, h) in heads where chain != "audit" {
                    if try Int.fetchOne(db, sql: "SELECT 1 FROM entries WHERE chain = ? LIMIT 1", arguments: [chain]) == nil {
                        problems.append(.init(property: "integrity", chain: chain, sequence: h.0, problem: "the chain head records \(h.0) entries but none is stored"))
                    }
                }
            }
            // Security: the audit log is present and chained; no credentials stored in headers.
            let audit = try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq").map {
                AuditEntry(sequence: $0["seq"], at: $0["at"], actor: $0["actor"], action: $0["action"], target: $0["target"], prevHash: $0["prev_hash"], hash: $0["hash"])
            }
            problems += AuditEntry.check(audit, head: heads["audit"])
            let secretHeaders = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM entries WHERE lower(headers) LIKE '%"authorization"%' OR lower(headers) LIKE '%"x-zhifa-signature"%' OR lower(headers) LIKE '%"password"%'
                """) ?? 0
            if secretHeaders > 0 { problems.append(.init(property: "security", problem: "\(secretHeaders) entries store credential headers in plain text")) }
            return FourPropertiesReport(scope: caseId.map { "case \($0)" } ?? "whole archive", checkedAt: now, entries: entries, chains: chains, problems: problems)
        }
    }

    // MARK: retention

    /// The closing events of closed cases, read through the partial index `entries_closed` (the
    /// hourly sweep would otherwise read every entry of the archive to find them).
    static let closedCases = "SELECT case_id, payload FROM entries WHERE event_type = '\(EventType.caseClosed.rawValue)' AND valid = 1 AND payload IS NOT NULL"

    /// A case's entries that still hold a payload and whose retention period has ended by `now`.
    static func dueForRetention(_ db: Database, caseId: String, category: Category?, closedAt: Date, evidence: Set<String>, rules: RetentionRules,
                                now: Date) throws -> [(row: Row, klass: String, expires: Date)] {
        try Row.fetchAll(db, sql: """
            SELECT chain, seq, event_id, event_type, payload_sha256, segment_id FROM entries WHERE case_id = ? AND kind = 'message' AND payload IS NOT NULL
            """, arguments: [caseId]).compactMap { r in
            guard let (klass, expires) = RetentionPolicy.expiry(eventType: r["event_type"], segmentId: r["segment_id"], category: category, closedAt: closedAt,
                                                                evidenceSegmentIds: evidence, rules: rules), expires <= now else { return nil }
            return (r, klass, expires)
        }
    }

    public func applyRetention(rules: RetentionRules, now: Date) async throws -> Int {
        // Closed cases, their category and the recordings their decisions name as evidence.
        let closed: [(String, Date, Category?, Set<String>)] = try await pool.read { db in
            var out: [(String, Date, Category?, Set<String>)] = []
            for r in try Row.fetchAll(db, sql: Self.closedCases) {
                guard let caseId = r["case_id"] as String?, let p = Self.payload(r), let c = try? JSONDecoder().decode(CaseClosed.self, from: Data(p)) else { continue }
                let opened = try Row.fetchOne(db, sql: "SELECT payload FROM entries WHERE case_id = ? AND event_type = ? AND valid = 1",
                                              arguments: [caseId, EventType.caseOpened.rawValue]).flatMap { Self.payload($0) }
                    .flatMap { try? JSONDecoder().decode(CaseOpened.self, from: Data($0)) }
                var evidence = Set<String>()
                for d in try Row.fetchAll(db, sql: "SELECT payload FROM entries WHERE case_id = ? AND event_type = ? AND valid = 1",
                                          arguments: [caseId, EventType.decisionDrafted.rawValue]) {
                    if let p = Self.payload(d), let draft = try? JSONDecoder().decode(DecisionDrafted.self, from: Data(p)) { evidence.formUnion(draft.avEvidenceSegmentIds ?? []) }
                }
                out.append((caseId, c.closedAt.date, opened?.category, evidence))
            }
            return out
        }
        var removed = 0
        for (caseId, closedAt, category, evidence) in closed {
            // Most closed cases have nothing due at a given sweep: find that out with a read, so
            // they do not each take the writer (and hold up the appends) for nothing.
            let anyDue = try await pool.read { db in
                try !Self.dueForRetention(db, caseId: caseId, category: category, closedAt: closedAt, evidence: evidence, rules: rules, now: now).isEmpty
            }
            guard anyDue else { continue }
            removed += try await pool.write { db in
                var n = 0
                for (r, klass, expires) in try Self.dueForRetention(db, caseId: caseId, category: category, closedAt: closedAt, evidence: evidence, rules: rules, now: now) {
                    let t = Tombstone(chain: r["chain"], sequence: r["seq"], eventId: r["event_id"], payloadSha256: r["payload_sha256"], caseId: caseId,
                                      category: klass, reason: "retention period \(klass) after closing \(ChinaTime.format(closedAt)) ended \(ChinaTime.format(expires))",
                                      removedAt: ChinaTime.formatMillis(now))
                    let body = Array(try JSONEncoder().encode(t))
                    let (seq, prev) = try Self.head(db, ArchiveChain.retentionChain)
                    var e = ArchiveEntry(chain: ArchiveChain.retentionChain, sequence: seq + 1, kind: .tombstone, eventId: "tombstone:\(t.chain)#\(t.sequence)",
                                         topic: "", partition: -1, offset: seq + 1, key: nil, headers: [["content-type", Data("application/json".utf8).base64EncodedString()]],
                                         receivedAt: ChinaTime.formatMillis(now), valid: true, invalidReason: nil, caseId: caseId, eventType: "cn.zhifa.archive.tombstone.v1",
                                         payloadSha256: ArchiveChain.sha256Hex(body), payloadSize: Int64(body.count), prevHash: "", hash: "")
                    ArchiveChain.seal(&e, after: prev)
                    guard try EntryInsert.run(db, e, headersJSON: StoredFields.headersJSON(e.headers), payload: body,
                                              deviceId: nil, segmentId: nil, startedAt: nil) else {
                        throw DatabaseError(message: "tombstone \(e.eventId) exists already")
                    }
                    try Self.setHead(db, chain: e.chain, sequence: e.sequence, hash: e.hash, at: e.receivedAt)
                    try db.execute(sql: "UPDATE entries SET payload = NULL WHERE chain = ? AND seq = ?", arguments: [t.chain, t.sequence])
                    n += 1
                }
                return n
            }
        }
        if removed > 0 { try await audit(actor: "system:retention", action: "delete-payloads", target: "\(removed) payload(s) past their retention period", at: now) }
        return removed
    }

    public func close() async { try? pool.close() }
}
