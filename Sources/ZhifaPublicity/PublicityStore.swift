import Foundation
import GRDB
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// A change of the public feed, in order (`seq` is the SSE event id).
public struct FeedChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case published, updated, withdrawn, expired }
    public var seq: Int64
    public var kind: Kind
    public var entry: PublicEntry
}

/// A decision issued but not (yet) on the feed, for reporting. No personal data.
public struct HeldDecision: Sendable, Equatable {
    public var caseId: String
    public var decisionId: String
    public var agencyId: String
    public var documentNumber: String
    public var category: Category?
    public var issuedAt: Date
    /// Why it waits: `awaitingClassification`, `awaitingApproval`, `awaitingCaseOpening`, or a
    /// withholding code (`confidential`, `minor`, `warningOnly`, `revokedBeforePublication`).
    public var reason: String

    /// Whether the decision is kept off the feed by policy rather than waiting for something.
    public var isWithheld: Bool { !reason.hasPrefix("awaiting") }
}

/// One fact about a decision or case, from either input topic.
public enum PublicityFact: Sendable {
    case opened(CaseOpened)
    case drafted(DecisionDrafted)
    case issued(DecisionIssued)
    case revoked(DecisionRevoked)
    case witnesses(caseId: String, names: [String])
    case classified(caseId: String, decisionId: String, major: Bool)
    case approved(caseId: String, decisionId: String)
}

/// What the publicity store needs to turn facts into entries.
public struct PublicationContext: Sendable {
    public var book: RulesBook
    public var calendar: WorkingDayCalendar
    public var rules: PublicityRules
    public var topic: String

    public init(book: RulesBook, calendar: WorkingDayCalendar, rules: PublicityRules, topic: String) {
        self.book = book
        self.calendar = calendar
        self.rules = rules
        self.topic = topic
    }
}

/// The publicity service's storage. SQLite by default; another database implements this protocol.
public protocol PublicityStore: Sendable {
    /// Applies one input event's fact and publishes or withdraws what it makes due; idempotent on
    /// `eventId`. Durable on return, the outgoing events queued in the same transaction.
    func apply(eventId: String, fact: PublicityFact, context: PublicationContext, now: Date) async throws -> [FeedChange]
    /// Entries listed on the HTML page (published and withdrawn, not expired), newest publication first.
    func entries(limit: Int, offset: Int, agency: String?, category: String?, from: String?, to: String?) async throws -> (entries: [PublicEntry], total: Int)
    /// Entries on the JSON and Atom feeds, most recently changed first, as stored: published and
    /// withdrawn entries, and expired ones for `expiredShownFor` after they expired (so readers see
    /// them go).
    func feedDocuments(limit: Int, offset: Int, now: Date, expiredShownFor: TimeInterval) async throws -> (documents: [EntryDocument], total: Int)
    func entry(_ id: String) async throws -> PublicEntry?
    /// Changes after `seq` (to resume an SSE stream).
    func changes(after seq: Int64, limit: Int) async throws -> [FeedChange]
    /// The latest change number and time (for ETags and Last-Modified).
    func lastChange() async throws -> (seq: Int64, at: Date)?
    /// Expires entries past their time.
    func expire(now: Date, topic: String) async throws -> [FeedChange]
    /// Recomputes provisional due dates with a newer calendar.
    func recomputeDueDates(context: PublicationContext, now: Date) async throws -> [FeedChange]
    func held() async throws -> [HeldDecision]
    func published(late: Bool) async throws -> [PublicEntry]
    /// Entries (not expired) whose due date is provisional.
    func provisionalEntries() async throws -> [PublicEntry]
    func pendingPublications(limit: Int) async throws -> [(id: Int64, record: KafkaRecord)]
    func markPublished(_ ids: [Int64]) async throws
    func close() async
}

extension PublicityStore {
    /// The feed's entries (see `feedDocuments`), decoded.
    public func feed(limit: Int, offset: Int, now: Date, expiredShownFor: TimeInterval) async throws -> (entries: [PublicEntry], total: Int) {
        let (documents, total) = try await feedDocuments(limit: limit, offset: offset, now: now, expiredShownFor: expiredShownFor)
        return (documents.compactMap(\.entry), total)
    }
}

/// One feed entry as a store keeps it: its JSON text. Equal text means the same version of the
/// same entry, so what is derived from an entry can be kept by its document (`FeedItemCache`).
public struct EntryDocument: Sendable, Hashable {
    /// The entry's JSON (`PublicEntry` encoded with sorted keys).
    public let text: String

    /// Wraps an entry's stored JSON.
    public init(text: String) { self.text = text }

    /// The entry, decoded; nil if the text is not a `PublicEntry`.
    public var entry: PublicEntry? { try? JSONDecoder().decode(PublicEntry.self, from: Data(text.utf8)) }
}

/// The SQLite publicity store.
public final class SQLitePublicityStore: PublicityStore {
    let pool: DatabasePool
    let writer: GroupCommitWriter
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public init(path: String) throws {
        pool = try SQLiteStore.open(path)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS seen (event_id TEXT PRIMARY KEY);
                CREATE TABLE IF NOT EXISTS cases (case_id TEXT PRIMARY KEY, opened TEXT, names TEXT NOT NULL DEFAULT '');
                CREATE TABLE IF NOT EXISTS decisions (
                    case_id TEXT NOT NULL, decision_id TEXT NOT NULL, draft TEXT, issued TEXT, revoked TEXT,
                    classified INTEGER NOT NULL DEFAULT 0, major INTEGER NOT NULL DEFAULT 0, approved INTEGER NOT NULL DEFAULT 0,
                    withheld TEXT, entry_id TEXT, PRIMARY KEY (case_id, decision_id));
                CREATE INDEX IF NOT EXISTS decisions_waiting ON decisions (entry_id);
                CREATE TABLE IF NOT EXISTS entries (
                    entry_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, decision_id TEXT NOT NULL, agency_id TEXT NOT NULL, category TEXT NOT NULL,
                    status TEXT NOT NULL, decided_on TEXT NOT NULL, published_at REAL NOT NULL, expires_at REAL NOT NULL, provisional INTEGER NOT NULL,
                    late INTEGER NOT NULL, updated_at REAL NOT NULL, json TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS entries_list ON entries (status, published_at);
                CREATE INDEX IF NOT EXISTS entries_feed ON entries (updated_at);
                CREATE INDEX IF NOT EXISTS entries_expiring ON entries (expires_at) WHERE status != 'expired';
                CREATE INDEX IF NOT EXISTS entries_provisional ON entries (entry_id) WHERE provisional = 1;
                CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL, kind TEXT NOT NULL, at REAL NOT NULL, json TEXT NOT NULL);
                """)
            try db.execute(sql: PublicationQueue.schema)
        }
        writer = GroupCommitWriter(pool: pool)
    }

    static func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String?) -> T? { s.flatMap { try? JSONDecoder().decode(T.self, from: Data($0.utf8)) } }

    // MARK: applying facts

    public func apply(eventId: String, fact: PublicityFact, context: PublicationContext, now: Date) async throws -> [FeedChange] {
        try await writer.write { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO seen (event_id) VALUES (?)").execute(arguments: [eventId])
            guard db.changesCount == 1 else { return [] }  // seen before: already applied
            var touched: [(String, String)] = []
            func ensureDecision(_ c: String, _ d: String) throws {
                try db.execute(sql: "INSERT OR IGNORE INTO decisions (case_id, decision_id) VALUES (?, ?)", arguments: [c, d])
            }
            switch fact {
            case .opened(let o):
                try db.execute(sql: "INSERT INTO cases (case_id, opened) VALUES (?, ?) ON CONFLICT (case_id) DO UPDATE SET opened = excluded.opened",
                               arguments: [o.caseId, try Self.json(o)])
                touched = try String.fetchAll(db, sql: "SELECT decision_id FROM decisions WHERE case_id = ?", arguments: [o.caseId]).map { (o.caseId, $0) }
            case .drafted(let d):
                try ensureDecision(d.caseId, d.decisionId)
                try db.execute(sql: "UPDATE decisions SET draft = ? WHERE case_id = ? AND decision_id = ?", arguments: [try Self.json(d), d.caseId, d.decisionId])
                touched = [(d.caseId, d.decisionId)]
            case .issued(let i):
                try ensureDecision(i.caseId, i.decisionId)
                try db.execute(sql: "UPDATE decisions SET issued = ? WHERE case_id = ? AND decision_id = ?", arguments: [try Self.json(i), i.caseId, i.decisionId])
                touched = [(i.caseId, i.decisionId)]
            case .revoked(let r):
                try ensureDecision(r.caseId, r.decisionId)
                try db.execute(sql: "UPDATE decisions SET revoked = ? WHERE case_id = ? AND decision_id = ?", arguments: [try Self.json(r), r.caseId, r.decisionId])
                touched = [(r.caseId, r.decisionId)]
                if let rep = r.replacementDecisionId { touched.append((r.caseId, rep)) }
            case .witnesses(let caseId, let names):
                try db.execute(sql: "INSERT OR IGNORE INTO cases (case_id) VALUES (?)", arguments: [caseId])
                let current = try String.fetchOne(db, sql: "SELECT names FROM cases WHERE case_id = ?", arguments: [caseId]) ?? ""
                let all = Set(current.split(separator: "\n").map(String.init)).union(names)
                try db.execute(sql: "UPDATE cases SET names = ? WHERE case_id = ?", arguments: [all.sorted().joined(separator: "\n"), caseId])
            case .classified(let c, let d, let major):
                try ensureDecision(c, d)
                try db.execute(sql: "UPDATE decisions SET classified = 1, major = ? WHERE case_id = ? AND decision_id = ?", arguments: [major, c, d])
                touched = [(c, d)]
            case .approved(let c, let d):
                try ensureDecision(c, d)
                try db.execute(sql: "UPDATE decisions SET approved = 1 WHERE case_id = ? AND decision_id = ?", arguments: [c, d])
                touched = [(c, d)]
            }
            var out: [FeedChange] = []
            for (c, d) in touched { out += try Self.evaluate(db, caseId: c, decisionId: d, context: context, now: now) }
            return out
        }
    }

    /// Publishes, withdraws or holds one decision according to what is known now.
    static func evaluate(_ db: Database, caseId: String, decisionId: String, context: PublicationContext, now: Date) throws -> [FeedChange] {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM decisions WHERE case_id = ? AND decision_id = ?", arguments: [caseId, decisionId]) else { return [] }
        let caseRow = try Row.fetchOne(db, sql: "SELECT opened, names FROM cases WHERE case_id = ?", arguments: [caseId])
        let opened = decode(CaseOpened.self, caseRow?["opened"])
        let names = ((caseRow?["names"] as String?) ?? "").split(separator: "\n").map(String.init)
        let revoked = decode(DecisionRevoked.self, row["revoked"])
        let issued = decode(DecisionIssued.self, row["issued"])
        if let entryId = row["entry_id"] as String? {
            guard let revoked, var entry = decode(PublicEntry.self, try String.fetchOne(db, sql: "SELECT json FROM entries WHERE entry_id = ?", arguments: [entryId])),
                  entry.status == .published else { return [] }
            let secrets = opened.map { Redactor.Secrets(party: $0.party, extraNames: names) } ?? Redactor.Secrets()
            let replacement = try revoked.replacementDecisionId.flatMap { rep in
                try String.fetchOne(db, sql: "SELECT entry_id FROM decisions WHERE case_id = ? AND decision_id = ?", arguments: [caseId, rep])
            }
            entry = PublicEntryBuilder.withdraw(entry, change: revoked.change, reason: revoked.reason, at: now, replacedBy: replacement, secrets: secrets)
            return [try record(db, entry, kind: .withdrawn, now: now, topic: context.topic)]
        }
        guard row["withheld"] as String? == nil, let issued, let opened else { return [] }
        guard row["classified"] as Bool == true else { return [] }
        if row["major"] as Bool == true && row["approved"] as Bool != true { return [] }
        if revoked != nil {
            try db.execute(sql: "UPDATE decisions SET withheld = 'revokedBeforePublication' WHERE case_id = ? AND decision_id = ?", arguments: [caseId, decisionId])
            return []
        }
        if let w = PublicationPolicy.withholding(opened: opened, issued: issued, rules: context.rules) {
            try db.execute(sql: "UPDATE decisions SET withheld = ? WHERE case_id = ? AND decision_id = ?", arguments: [w.code, caseId, decisionId])
            return []
        }
        // Is this the replacement of a withdrawn decision?
        var replaces: String? = nil
        for r in try String.fetchAll(db, sql: "SELECT revoked FROM decisions WHERE case_id = ? AND revoked IS NOT NULL AND entry_id IS NOT NULL", arguments: [caseId]) {
            if let rv = decode(DecisionRevoked.self, r), rv.replacementDecisionId == decisionId {
                replaces = PublicEntryBuilder.entryId(agencyId: opened.agencyId, decisionId: rv.decisionId)
            }
        }
        let draft = decode(DecisionDrafted.self, row["draft"])
        let entry = PublicEntryBuilder.build(opened: opened, issued: issued, draft: draft, extraNames: names, book: context.book, calendar: context.calendar,
                                             rules: context.rules, publishedAt: now, replaces: replaces)
        try db.execute(sql: "UPDATE decisions SET entry_id = ? WHERE case_id = ? AND decision_id = ?", arguments: [entry.entryId, caseId, decisionId])
        var out = [try record(db, entry, kind: .published, now: now, topic: context.topic)]
        if let replaces, var old = decode(PublicEntry.self, try String.fetchOne(db, sql: "SELECT json FROM entries WHERE entry_id = ?", arguments: [replaces])) {
            old.replacedBy = entry.entryId
            old.touch(now)
            out.append(try record(db, old, kind: .updated, now: now, topic: context.topic))
        }
        return out
    }

    /// Saves an entry, appends the change and queues its event for zhifa.publicity.v1.
    static func record(_ db: Database, _ e: PublicEntry, kind: FeedChange.Kind, now: Date, topic: String) throws -> FeedChange {
        let json = try Self.json(e)
        try db.execute(sql: """
            INSERT INTO entries (entry_id, case_id, decision_id, agency_id, category, status, decided_on, published_at, expires_at, provisional, late, updated_at, json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (entry_id) DO UPDATE SET status = excluded.status, provisional = excluded.provisional, late = excluded.late,
                updated_at = excluded.updated_at, json = excluded.json
            """, arguments: [e.entryId, e.caseId, e.decisionId, e.agencyId, e.category, e.status.rawValue, e.decidedOn,
                             Instant(e.publishedAt)?.date.timeIntervalSince1970 ?? now.timeIntervalSince1970,
                             Instant(e.expiresAt)?.date.timeIntervalSince1970 ?? now.timeIntervalSince1970, e.provisionalDue, e.late,
                             now.timeIntervalSince1970, json])
        try db.execute(sql: "INSERT INTO changes (entry_id, kind, at, json) VALUES (?, ?, ?, ?)", arguments: [e.entryId, kind.rawValue, now.timeIntervalSince1970, json])
        let seq = db.lastInsertedRowID
        let r = try InternalEvents.record(topic: topic, key: e.caseId, id: "publicity-\(e.entryId)-\(kind.rawValue)-\(seq)",
                                          type: "cn.zhifa.publicity.\(kind.rawValue).v1", service: "publicity", time: now, payload: e)
        try PublicationQueue.enqueue(r, in: db)
        return FeedChange(seq: seq, kind: kind, entry: e)
    }

    // MARK: reads

    public func entries(limit: Int, offset: Int, agency: String?, category: String?, from: String?, to: String?) async throws -> (entries: [PublicEntry], total: Int) {
        try await pool.read { db in
            var conditions = ["status != 'expired'"]
            var args: [any DatabaseValueConvertible] = []
            if let agency { conditions.append("agency_id = ?"); args.append(agency) }
            if let category { conditions.append("category = ?"); args.append(category) }
            if let from { conditions.append("decided_on >= ?"); args.append(from) }
            if let to { conditions.append("decided_on <= ?"); args.append(to) }
            let whereSQL = conditions.joined(separator: " AND ")
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM entries WHERE \(whereSQL)", arguments: StatementArguments(args)) ?? 0
            let rows = try String.fetchAll(db, sql: "SELECT json FROM entries WHERE \(whereSQL) ORDER BY published_at DESC, entry_id LIMIT ? OFFSET ?",
                                           arguments: StatementArguments(args + [limit, offset]))
            return (rows.compactMap { Self.decode(PublicEntry.self, $0) }, total)
        }
    }

    public func feedDocuments(limit: Int, offset: Int, now: Date, expiredShownFor: TimeInterval) async throws -> (documents: [EntryDocument], total: Int) {
        try await pool.read { db in
            let cutoff = now.timeIntervalSince1970 - expiredShownFor
            let whereSQL = "status != 'expired' OR updated_at > ?"
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM entries WHERE \(whereSQL)", arguments: [cutoff]) ?? 0
            let rows = try String.fetchAll(db, sql: "SELECT json FROM entries WHERE \(whereSQL) ORDER BY updated_at DESC, entry_id LIMIT ? OFFSET ?",
                                           arguments: [cutoff, limit, offset])
            return (rows.map(EntryDocument.init(text:)), total)
        }
    }

    public func entry(_ id: String) async throws -> PublicEntry? {
        try await pool.read { db in Self.decode(PublicEntry.self, try String.fetchOne(db, sql: "SELECT json FROM entries WHERE entry_id = ?", arguments: [id])) }
    }

    public func changes(after seq: Int64, limit: Int) async throws -> [FeedChange] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, kind, json FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).compactMap { r in
                guard let e = Self.decode(PublicEntry.self, r["json"]), let k = FeedChange.Kind(rawValue: r["kind"]) else { return nil }
                return FeedChange(seq: r["seq"], kind: k, entry: e)
            }
        }
    }

    public func lastChange() async throws -> (seq: Int64, at: Date)? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, at FROM changes ORDER BY seq DESC LIMIT 1").map { ($0["seq"], Date(timeIntervalSince1970: $0["at"])) }
        }
    }

    /// Entries whose publication period has ended and that are not yet marked expired. The
    /// maintenance tick (at least once a minute) runs this and `provisionalDue` on the writer;
    /// partial indexes keep them to the few rows they concern instead of the whole feed's history.
    static let dueToExpire = "SELECT json FROM entries WHERE status != 'expired' AND expires_at <= ?"

    /// Entries whose due date rests on a year without an official calendar.
    static let provisionalDue = "SELECT json FROM entries WHERE provisional = 1"

    public func expire(now: Date, topic: String) async throws -> [FeedChange] {
        try await writer.write { db in
            let due = try String.fetchAll(db, sql: Self.dueToExpire, arguments: [now.timeIntervalSince1970])
            return try due.compactMap { Self.decode(PublicEntry.self, $0) }.map { e in
                var x = e
                x.status = .expired
                x.touch(now)
                return try Self.record(db, x, kind: .expired, now: now, topic: topic)
            }
        }
    }

    public func recomputeDueDates(context: PublicationContext, now: Date) async throws -> [FeedChange] {
        try await writer.write { db in
            let rows = try String.fetchAll(db, sql: Self.provisionalDue)
            var out: [FeedChange] = []
            for json in rows {
                guard var e = Self.decode(PublicEntry.self, json), let issued = Instant(e.issuedAt), let cat = Category(rawValue: e.category) else { continue }
                let due = PublicationPolicy.dueDate(category: cat, issuedAt: issued.date, calendar: context.calendar, rules: context.rules)
                guard !due.provisional || due.day.description != e.dueDate else { continue }
                e.dueDate = due.day.description
                e.provisionalDue = due.provisional
                e.late = (Instant(e.publishedAt)?.date ?? now) >= ChinaTime.startOfDay(due.day.adding(days: 1))
                e.touch(now)
                out.append(try Self.record(db, e, kind: .updated, now: now, topic: context.topic))
            }
            return out
        }
    }

    public func held() async throws -> [HeldDecision] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.*, c.opened FROM decisions d LEFT JOIN cases c ON c.case_id = d.case_id WHERE d.entry_id IS NULL AND d.issued IS NOT NULL
                """).compactMap { r in
                guard let issued = Self.decode(DecisionIssued.self, r["issued"]) else { return nil }
                let opened = Self.decode(CaseOpened.self, r["opened"])
                let reason: String
                if let w = r["withheld"] as String? {
                    reason = w
                } else if opened == nil {
                    reason = "awaitingCaseOpening"
                } else if r["classified"] as Bool != true {
                    reason = "awaitingClassification"
                } else {
                    reason = "awaitingApproval"
                }
                return HeldDecision(caseId: r["case_id"], decisionId: r["decision_id"], agencyId: opened?.agencyId ?? "", documentNumber: issued.documentNumber,
                                    category: opened?.category, issuedAt: issued.issuedAt.date, reason: reason)
            }
        }
    }

    public func published(late: Bool) async throws -> [PublicEntry] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT json FROM entries WHERE late = ? ORDER BY published_at DESC", arguments: [late]).compactMap { Self.decode(PublicEntry.self, $0) }
        }
    }

    public func provisionalEntries() async throws -> [PublicEntry] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT json FROM entries WHERE provisional = 1 AND status != 'expired'").compactMap { Self.decode(PublicEntry.self, $0) }
        }
    }

    public func pendingPublications(limit: Int) async throws -> [(id: Int64, record: KafkaRecord)] {
        try await pool.read { db in try PublicationQueue.pending(limit: limit, in: db) }
    }

    public func markPublished(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in try PublicationQueue.markSent(ids, in: db) }
    }

    public func close() async {
        await writer.close()
        try? pool.close()
    }
}
