import Foundation
import GRDB
import ZhifaDomain
import ZhifaKafka
import ZhifaRuntime

/// Why a queue operation was refused.
public enum TaskQueueError: Error, Sendable, Equatable {
    case notFound
    case notClaimedByYou
    case leaseExpired
    case alreadyDecided
}

/// The review service's storage. SQLite by default; another database implements this protocol.
public protocol ReviewStore: Sendable {
    /// The structured-mode JSON of every stored event of a case.
    func caseEvents(_ caseId: String) async throws -> [[UInt8]]
    /// What the processor needs about a case before handling one of its events, read in one
    /// transaction: the event's recorded outputs (when it was processed already), the case's
    /// stored events (when `loadEvents`), its decisions, tasks and approvals.
    func snapshot(eventId: String, caseId: String, loadEvents: Bool) async throws -> CaseSnapshot
    /// The segment recorded just before `segment` on its device, among those stored and `pending`
    /// (a segment being processed, not yet stored).
    func predecessor(of segment: AVSegmentRegistered, pending: AVSegmentRegistered?) async throws -> DevicePredecessor
    /// The case of the segment recorded just after `segment` on its device, when that is a case
    /// other than `caseId` with a reviewed decision (its AV checks rested on a chain without `segment`).
    func caseReviewedAfter(_ segment: AVSegmentRegistered, caseId: String) async throws -> String?
    func decision(caseId: String, decisionId: String) async throws -> DecisionRecord?
    func tasks(caseId: String, decisionId: String) async throws -> [ReviewTask]
    /// Stores one processed event's effects atomically (durable on return).
    func commit(_ step: ProcessingStep) async throws

    func listTasks(agencyId: String, now: Date) async throws -> [ReviewTask]
    func task(_ id: String) async throws -> ReviewTask?
    func claimOldest(agencyId: String, reviewerId: String, recuseOfficer: String?, now: Date, lease: TimeInterval) async throws -> ReviewTask?
    func renew(taskId: String, reviewerId: String, now: Date, lease: TimeInterval) async throws -> ReviewTask
    /// Records an opinion (the task must be claimed by the reviewer) and queues its events.
    func recordOpinion(_ opinion: ReviewOpinion, now: Date, events: @Sendable (ReviewTask) throws -> [KafkaRecord]) async throws -> ReviewTask
    func opinions(caseId: String) async throws -> [ReviewOpinion]
    /// Decisions that are not major yet failed a check (the agency's attention list).
    func attention(agencyId: String) async throws -> [DecisionRecord]

    /// Queued events not yet acknowledged by Kafka.
    func pendingPublications(limit: Int) async throws -> [(id: Int64, record: KafkaRecord)]
    func markPublished(_ ids: [Int64]) async throws
    func close() async
}

extension ReviewStore {
    /// The segment recorded just before `segment` on its device, among those stored.
    func predecessor(of segment: AVSegmentRegistered) async throws -> DevicePredecessor {
        try await predecessor(of: segment, pending: nil)
    }
}

/// The SQLite review store (WAL, fsync on commit, processing steps group-committed).
public final class SQLiteReviewStore: ReviewStore {
    let pool: DatabasePool
    let writer: GroupCommitWriter

    public init(path: String) throws {
        pool = try SQLiteStore.open(path)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS events (
                    event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, type TEXT NOT NULL, time REAL NOT NULL, structured BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS events_case ON events (case_id);
                CREATE TABLE IF NOT EXISTS outputs (
                    event_id TEXT NOT NULL, n INTEGER NOT NULL, topic TEXT NOT NULL, key TEXT, value BLOB NOT NULL, headers TEXT NOT NULL,
                    PRIMARY KEY (event_id, n));
                CREATE TABLE IF NOT EXISTS segments (
                    segment_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, started REAL NOT NULL, ended REAL NOT NULL, sha256 TEXT NOT NULL,
                    case_id TEXT);
                DROP INDEX IF EXISTS segments_device;
                CREATE INDEX IF NOT EXISTS segments_device_order ON segments (device_id, started, segment_id);
                CREATE INDEX IF NOT EXISTS segments_device_sha ON segments (device_id, sha256);
                CREATE TABLE IF NOT EXISTS decisions (
                    case_id TEXT NOT NULL, decision_id TEXT NOT NULL, agency_id TEXT NOT NULL, major INTEGER NOT NULL,
                    findings_hash TEXT NOT NULL, cleared INTEGER NOT NULL, violation INTEGER NOT NULL, failed INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (case_id, decision_id));
                CREATE TABLE IF NOT EXISTS tasks (
                    task_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, case_id TEXT NOT NULL, decision_id TEXT NOT NULL, agency_id TEXT NOT NULL,
                    state TEXT NOT NULL, draft_event_id TEXT NOT NULL, created_at REAL NOT NULL, due_date TEXT NOT NULL, due_provisional INTEGER NOT NULL,
                    claimed_by TEXT, lease_until REAL, previous_task_id TEXT, investigators TEXT NOT NULL, opinion_id TEXT);
                CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (agency_id, state, created_at, seq);
                CREATE INDEX IF NOT EXISTS tasks_decision ON tasks (case_id, decision_id);
                CREATE INDEX IF NOT EXISTS tasks_seq ON tasks (seq);
                CREATE TABLE IF NOT EXISTS opinions (
                    opinion_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, case_id TEXT NOT NULL, decision_id TEXT NOT NULL,
                    reviewer_id TEXT NOT NULL, opinion TEXT NOT NULL, reasons TEXT, at REAL NOT NULL);
                CREATE INDEX IF NOT EXISTS opinions_decision ON opinions (case_id, decision_id);
                """)
            try db.execute(sql: PublicationQueue.schema)
            // Stores from before segments knew their case: add the column (older rows stay without one).
            if try !Row.fetchAll(db, sql: "PRAGMA table_info(segments)").contains(where: { ($0["name"] as String?) == "case_id" }) {
                try db.execute(sql: "ALTER TABLE segments ADD COLUMN case_id TEXT")
            }
        }
        writer = GroupCommitWriter(pool: pool)
    }

    public func snapshot(eventId: String, caseId: String, loadEvents: Bool) async throws -> CaseSnapshot {
        try await pool.read { db in
            var snap = CaseSnapshot()
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM events WHERE event_id = ?"), arguments: [eventId]) == true {
                snap.outputs = try Row.fetchAll(db.cachedStatement(sql: "SELECT topic, key, value, headers FROM outputs WHERE event_id = ? ORDER BY n"),
                                                arguments: [eventId]).map(PublicationQueue.record)
                return snap
            }
            if loadEvents {
                snap.events = try Data.fetchAll(db.cachedStatement(sql: "SELECT structured FROM events WHERE case_id = ? AND type != ?"),
                                             arguments: [caseId, ReviewRecheckEvent.type]).map { Array($0) }
            }
            for r in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM decisions WHERE case_id = ?"), arguments: [caseId]) {
                let d = Self.decisionRecord(r)
                snap.decisions[d.decisionId] = d
            }
            for r in try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM tasks WHERE case_id = ? ORDER BY seq"), arguments: [caseId]) {
                let t = Self.task(r)
                snap.tasks[t.decisionId, default: []].append(t)
            }
            snap.approved = Set(try String.fetchAll(db.cachedStatement(sql: "SELECT decision_id FROM opinions WHERE case_id = ? AND opinion = 'approve'"),
                                                    arguments: [caseId]))
            return snap
        }
    }

    public func caseEvents(_ caseId: String) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(db.cachedStatement(sql: "SELECT structured FROM events WHERE case_id = ? AND type != ?"), arguments: [caseId, ReviewRecheckEvent.type])
                .map { Array($0) }
        }
    }

    /// The segment recorded just before a segment (its start and id) on its device. The row-value
    /// comparison walks `segments_device_order` backwards and stops at the first row; with an `OR` of
    /// the two orderings SQLite read and sorted every earlier segment of the device (every lookup
    /// grew with the camera's history).
    static let previousOnDevice = """
        SELECT segment_id, sha256, started, ended FROM segments
        WHERE device_id = ? AND (started, segment_id) < (?, ?)
        ORDER BY started DESC, segment_id DESC LIMIT 1
        """

    /// The case of the segment recorded just after a segment (its start and id) on its device.
    static let nextCaseOnDevice = """
        SELECT case_id FROM segments
        WHERE device_id = ? AND (started, segment_id) > (?, ?)
        ORDER BY started, segment_id LIMIT 1
        """

    public func predecessor(of s: AVSegmentRegistered, pending: AVSegmentRegistered? = nil) async throws -> DevicePredecessor {
        // The pending segment counts as stored (it is being processed).
        let pendingHere = pending.flatMap { $0.deviceId == s.deviceId && $0.segmentId != s.segmentId ? $0 : nil }
        let named = s.previousSegmentSha256
        typealias Stored = (started: Double, id: String, sha: String, ended: Double)
        let (stored, namedIsKnown): (Stored?, Bool) = try await pool.read { db in
            let row = try Row.fetchOne(db.cachedStatement(sql: Self.previousOnDevice), arguments: [s.deviceId, s.startedAt.date.timeIntervalSince1970, s.segmentId])
            let stored: Stored? = row.map { ($0["started"], $0["segment_id"], $0["sha256"], $0["ended"]) }
            // Whether the hash `s` names is a segment of its device: asked of the store only when
            // it is neither candidate predecessor's (a link that does not match).
            guard let named, named != stored?.sha, named != pendingHere?.sha256 else { return (stored, true) }
            let known = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM segments WHERE device_id = ? AND sha256 = ? AND segment_id != ? LIMIT 1"),
                                          arguments: [s.deviceId, named, s.segmentId]) ?? false
            return (stored, known)
        }
        // The pending segment wins when it lies between the stored predecessor and `s` (same order as the SQL).
        if let n = pendingHere {
            let key = (n.startedAt.date.timeIntervalSince1970, n.segmentId)
            let target = (s.startedAt.date.timeIntervalSince1970, s.segmentId)
            if key < target, stored.map({ ($0.started, $0.id) < key }) ?? true {
                return .known(segmentId: n.segmentId, sha256: n.sha256, endedAt: n.endedAt.date, namedIsKnown: namedIsKnown)
            }
        }
        guard let stored else { return .none }
        return .known(segmentId: stored.id, sha256: stored.sha, endedAt: Date(timeIntervalSince1970: stored.ended), namedIsKnown: namedIsKnown)
    }

    public func caseReviewedAfter(_ s: AVSegmentRegistered, caseId: String) async throws -> String? {
        try await pool.read { db in
            let started = s.startedAt.date.timeIntervalSince1970
            guard let next = try String.fetchOne(db.cachedStatement(sql: Self.nextCaseOnDevice), arguments: [s.deviceId, started, s.segmentId]), next != caseId else { return nil }
            let reviewed = try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM decisions WHERE case_id = ? LIMIT 1"), arguments: [next]) ?? false
            return reviewed ? next : nil
        }
    }

    public func decision(caseId: String, decisionId: String) async throws -> DecisionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM decisions WHERE case_id = ? AND decision_id = ?"), arguments: [caseId, decisionId]).map(Self.decisionRecord)
        }
    }

    static func decisionRecord(_ r: Row) -> DecisionRecord {
        DecisionRecord(caseId: r["case_id"], decisionId: r["decision_id"], agencyId: r["agency_id"], major: r["major"],
                       findingsHash: r["findings_hash"], cleared: r["cleared"], violation: r["violation"])
    }

    public func tasks(caseId: String, decisionId: String) async throws -> [ReviewTask] {
        try await pool.read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM tasks WHERE case_id = ? AND decision_id = ? ORDER BY seq"), arguments: [caseId, decisionId]).map(Self.task)
        }
    }

    static func task(_ r: Row) -> ReviewTask {
        ReviewTask(
            taskId: r["task_id"], caseId: r["case_id"], decisionId: r["decision_id"], agencyId: r["agency_id"],
            state: ReviewTaskState(rawValue: r["state"]) ?? .open, draftEventId: r["draft_event_id"],
            createdAt: Date(timeIntervalSince1970: r["created_at"]), dueDate: CalendarDay(r["due_date"] as String) ?? CalendarDay(year: 1970, month: 1, day: 1),
            dueProvisional: r["due_provisional"], claimedBy: r["claimed_by"], leaseUntil: (r["lease_until"] as Double?).map { Date(timeIntervalSince1970: $0) },
            previousTaskId: r["previous_task_id"], investigators: (r["investigators"] as String).split(separator: ",").map(String.init),
            opinionId: r["opinion_id"])
    }

    /// A new task's place in the queue: one more than the last. Every save evaluates it (claims and
    /// renewals too), so it reads the `tasks_seq` index rather than every task.
    static let nextTaskSeq = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks)"

    static func save(_ t: ReviewTask, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO tasks (task_id, seq, case_id, decision_id, agency_id, state, draft_event_id, created_at, due_date, due_provisional,
                               claimed_by, lease_until, previous_task_id, investigators, opinion_id)
            VALUES (?, \(nextTaskSeq), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (task_id) DO UPDATE SET state = excluded.state, draft_event_id = excluded.draft_event_id, claimed_by = excluded.claimed_by,
                lease_until = excluded.lease_until, investigators = excluded.investigators, opinion_id = excluded.opinion_id
            """).execute(arguments: [t.taskId, t.caseId, t.decisionId, t.agencyId, t.state.rawValue, t.draftEventId, t.createdAt.timeIntervalSince1970,
                             t.dueDate.description, t.dueProvisional, t.claimedBy, t.leaseUntil?.timeIntervalSince1970, t.previousTaskId,
                             t.investigators.joined(separator: ","), t.opinionId])
    }

    public func commit(_ step: ProcessingStep) async throws {
        let outputs = step.outputs.map(PublicationQueue.columns(of:))
        try await writer.write { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO events (event_id, case_id, type, time, structured) VALUES (?, ?, ?, ?, ?)")
                .execute(arguments: [step.eventId, step.caseId, step.type, step.time.timeIntervalSince1970, Data(step.structured)])
            if db.changesCount == 0 { return }  // processed meanwhile: keep the first outputs
            for (n, o) in outputs.enumerated() {
                try db.cachedStatement(sql: "INSERT INTO outputs (event_id, n, topic, key, value, headers) VALUES (?, ?, ?, ?, ?, ?)")
                    .execute(arguments: StatementArguments([step.eventId, n] + o))
            }
            if let s = step.segment {
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO segments (segment_id, device_id, started, ended, sha256, case_id) VALUES (?, ?, ?, ?, ?, ?)")
                    .execute(arguments: [s.segmentId, s.deviceId, s.startedAt.date.timeIntervalSince1970, s.endedAt.date.timeIntervalSince1970, s.sha256,
                                         step.caseId])
            }
            for d in step.decisions {
                try db.cachedStatement(sql: """
                    INSERT OR REPLACE INTO decisions (case_id, decision_id, agency_id, major, findings_hash, cleared, violation, failed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [d.caseId, d.decisionId, d.agencyId, d.major, d.findingsHash, d.cleared, d.violation, d.failsACheck])
            }
            for t in step.newTasks + step.updatedTasks { try Self.save(t, db) }
            try db.cachedStatement(sql: "UPDATE tasks SET investigators = ? WHERE case_id = ?").execute(arguments: [step.investigators.joined(separator: ","), step.caseId])
        }
    }

    public func listTasks(agencyId: String, now: Date) async throws -> [ReviewTask] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tasks WHERE agency_id = ? ORDER BY created_at, seq", arguments: [agencyId]).map(Self.task)
        }
    }

    public func task(_ id: String) async throws -> ReviewTask? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE task_id = ?", arguments: [id]).map(Self.task) }
    }

    public func claimOldest(agencyId: String, reviewerId: String, recuseOfficer: String?, now: Date, lease: TimeInterval) async throws -> ReviewTask? {
        try await pool.write { db in
            let candidates = try Row.fetchAll(db, sql: """
                SELECT * FROM tasks WHERE agency_id = ? AND (state = 'open' OR (state = 'claimed' AND lease_until < ?))
                ORDER BY created_at, seq
                """, arguments: [agencyId, now.timeIntervalSince1970]).map(Self.task)
            guard var t = candidates.first(where: { c in recuseOfficer.map { !c.investigators.contains($0) } ?? true }) else { return nil }
            t.state = .claimed
            t.claimedBy = reviewerId
            t.leaseUntil = now.addingTimeInterval(lease)
            try Self.save(t, db)
            return t
        }
    }

    public func renew(taskId: String, reviewerId: String, now: Date, lease: TimeInterval) async throws -> ReviewTask {
        let result: Result<ReviewTask, TaskQueueError> = try await pool.write { db in
            guard var t = try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE task_id = ?", arguments: [taskId]).map(Self.task) else { return .failure(.notFound) }
            guard t.state == .claimed else { return .failure(t.state == .approved || t.state == .returned ? .alreadyDecided : .notClaimedByYou) }
            guard t.claimedBy == reviewerId else { return .failure(t.leaseExpired(at: now) ? .leaseExpired : .notClaimedByYou) }
            t.leaseUntil = now.addingTimeInterval(lease)
            try Self.save(t, db)
            return .success(t)
        }
        return try result.get()
    }

    public func recordOpinion(_ o: ReviewOpinion, now: Date, events: @Sendable (ReviewTask) throws -> [KafkaRecord]) async throws -> ReviewTask {
        let result: Result<ReviewTask, TaskQueueError> = try await pool.write { db in
            guard var t = try Row.fetchOne(db, sql: "SELECT * FROM tasks WHERE task_id = ?", arguments: [o.taskId]).map(Self.task) else { return .failure(.notFound) }
            if t.state == .approved || t.state == .returned || t.state == .superseded { return .failure(.alreadyDecided) }
            guard t.state == .claimed, t.claimedBy == o.reviewerId else { return .failure(.notClaimedByYou) }
            guard !t.leaseExpired(at: now) else { return .failure(.leaseExpired) }
            t.state = o.opinion == .approve ? .approved : .returned
            t.opinionId = o.opinionId
            t.leaseUntil = nil
            try Self.save(t, db)
            try db.execute(sql: """
                INSERT INTO opinions (opinion_id, task_id, case_id, decision_id, reviewer_id, opinion, reasons, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [o.opinionId, o.taskId, o.caseId, o.decisionId, o.reviewerId, o.opinion.rawValue, o.reasons, o.at.timeIntervalSince1970])
            for r in try events(t) {
                try PublicationQueue.enqueue(r, in: db)
            }
            return .success(t)
        }
        return try result.get()
    }

    public func opinions(caseId: String) async throws -> [ReviewOpinion] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM opinions WHERE case_id = ? ORDER BY at", arguments: [caseId]).map { r in
                ReviewOpinion(opinionId: r["opinion_id"], taskId: r["task_id"], caseId: r["case_id"], decisionId: r["decision_id"],
                              reviewerId: r["reviewer_id"], opinion: ReviewOpinionKind(rawValue: r["opinion"]) ?? .return, reasons: r["reasons"],
                              at: Date(timeIntervalSince1970: r["at"]))
            }
        }
    }

    public func attention(agencyId: String) async throws -> [DecisionRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM decisions WHERE agency_id = ? AND major = 0 AND failed = 1 ORDER BY case_id", arguments: [agencyId]).map(Self.decisionRecord)
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
