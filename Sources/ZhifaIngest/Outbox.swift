import Foundation
import GRDB
import Logging
import Synchronization
import ZhifaRuntime

/// One accepted-to-be event on its way into the outbox.
public struct OutboxItem: Sendable {
    public var id: String
    public var caseId: String?
    public var source: String
    public var type: String
    public var time: String
    public var contentType: String?
    public var data: [UInt8]
    /// The agency of the device that sent it (for the 403 rule).
    public var deviceAgency: String
    /// `data.agencyId` when this is a `case.opened`.
    public var openedAgency: String?
    public var deviceId: String

    public init(id: String, caseId: String?, source: String, type: String, time: String, contentType: String?, data: [UInt8], deviceAgency: String, openedAgency: String?, deviceId: String) {
        self.id = id
        self.caseId = caseId
        self.source = source
        self.type = type
        self.time = time
        self.contentType = contentType
        self.data = data
        self.deviceAgency = deviceAgency
        self.openedAgency = openedAgency
        self.deviceId = deviceId
    }
}

/// What the outbox decided for an item.
public enum OutboxOutcome: Sendable, Equatable {
    /// Durably stored (committed with fsync).
    case accepted
    /// This id was accepted before; nothing stored.
    case duplicate
    /// The device's agency may not send this event.
    case forbidden(String)
    /// The outbox holds its maximum of unreleased events.
    case full
}

/// A stored event, as the relay reads it.
public struct OutboxRow: Sendable {
    public var seq: Int64
    public var id: String
    public var caseId: String?
    public var source: String
    public var type: String
    public var time: String
    public var contentType: String?
    public var data: [UInt8]
}

/// The ingest's durable outbox in SQLite (WAL, `synchronous=FULL`: every commit is fsynced).
///
/// Requests are committed by one writer in groups: all requests waiting while a commit runs go
/// into the next transaction together, so throughput grows with concurrency while each request
/// still returns only once its events are on disk. States: 0 stored, 1 delivered to Kafka (awaiting
/// the archive's receipt), 2 released (payload dropped, id kept for duplicate detection).
public final class Outbox: Sendable {
    private struct Request {
        var items: [OutboxItem]
        var continuation: CheckedContinuation<Result<[OutboxOutcome], any Error>, Never>
    }

    let pool: DatabasePool
    let maxEvents: Int
    private let logger: Logger
    private let queue = Mutex<(requests: [Request], writerWaiting: CheckedContinuation<Void, Never>?, stopped: Bool)>(([], nil, false))
    private let unreleasedCount = Atomic<Int>(0)
    private let lastWriteFailed = Atomic<Bool>(false)
    /// Signalled after each commit that stored new events (the relay waits on it).
    public let stored = WakeSignal()
    private let writerTask = Mutex<Task<Void, Never>?>(nil)
    /// Called after each commit that released events.
    private let onRelease: (@Sendable () -> Void)?

    /// Opens (creating if needed) the outbox at `path`; `onRelease` is called after each commit
    /// that released events.
    public init(path: String, maxEvents: Int, logger: Logger, onRelease: (@Sendable () -> Void)? = nil) throws {
        self.onRelease = onRelease
        pool = try SQLiteStore.open(path)
        self.maxEvents = maxEvents
        self.logger = logger
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    case_id TEXT,
                    source TEXT NOT NULL,
                    type TEXT NOT NULL,
                    time TEXT NOT NULL,
                    content_type TEXT,
                    data BLOB,
                    device_id TEXT,
                    accepted_at REAL NOT NULL,
                    state INTEGER NOT NULL DEFAULT 0,
                    delivered_at REAL,
                    released_at REAL
                );
                CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, seq);
                CREATE TABLE IF NOT EXISTS case_agency (case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL);
                """)
        }
        let n = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE state < 2") ?? 0 }
        unreleasedCount.store(n, ordering: .relaxed)
        let task = Task { [weak self] in _ = await self?.writerLoop() }
        writerTask.withLock { $0 = task }
    }

    /// Events stored and not yet released.
    public var unreleased: Int { unreleasedCount.load(ordering: .relaxed) }

    /// Whether the last commit succeeded (for `/readyz`).
    public var writable: Bool { !lastWriteFailed.load(ordering: .relaxed) }

    /// Stores items durably; returns one outcome per item, in order.
    public func submit(_ items: [OutboxItem]) async throws -> [OutboxOutcome] {
        guard !items.isEmpty else { return [] }
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<[OutboxOutcome], any Error>, Never>) in
            let (writer, stopped) = queue.withLock { q -> (CheckedContinuation<Void, Never>?, Bool) in
                if q.stopped { return (nil, true) }
                q.requests.append(Request(items: items, continuation: c))
                let w = q.writerWaiting
                q.writerWaiting = nil
                return (w, false)
            }
            if stopped { c.resume(returning: .failure(CancellationError())) }
            writer?.resume()
        }
        return try result.get()
    }

    private func writerLoop() async {
        while let batch = await nextBatch() {
            await commit(batch)
        }
    }

    /// The requests queued so far, waiting for at least one; nil once stopped and drained.
    private func nextBatch() async -> [Request]? {
        while true {
            let taken = queue.withLock { q -> [Request]? in
                if !q.requests.isEmpty { defer { q.requests = [] }; return q.requests }
                return q.stopped ? [] : nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (w: CheckedContinuation<Void, Never>) in
                let now = queue.withLock { q -> Bool in
                    if !q.requests.isEmpty || q.stopped { return true }
                    q.writerWaiting = w
                    return false
                }
                if now { w.resume() }
            }
        }
    }

    private func commit(_ batch: [Request]) async {
        let now = Date().timeIntervalSince1970
        let maxEvents = self.maxEvents
        let startUnreleased = unreleased
        do {
            let (outcomes, added) = try await pool.write { db -> ([[OutboxOutcome]], Int) in
                let insert = try db.cachedStatement(sql: """
                    INSERT OR IGNORE INTO outbox (id, case_id, source, type, time, content_type, data, device_id, accepted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let exists = try db.cachedStatement(sql: "SELECT 1 FROM outbox WHERE id = ?")
                let owner = try db.cachedStatement(sql: "SELECT agency_id FROM case_agency WHERE case_id = ?")
                let claim = try db.cachedStatement(sql: "INSERT OR IGNORE INTO case_agency (case_id, agency_id) VALUES (?, ?)")
                var owners: [String: String?] = [:]
                var added = 0
                var all: [[OutboxOutcome]] = []
                for request in batch {
                    var out: [OutboxOutcome] = []
                    for item in request.items {
                        // 403 first (a duplicate of an accepted event always passed this check before).
                        if let opened = item.openedAgency, opened != item.deviceAgency {
                            out.append(try Bool.fetchOne(exists, arguments: [item.id]) == true ? .duplicate
                                       : .forbidden("a device of agency \(item.deviceAgency) cannot open a case for agency \(opened)"))
                            continue
                        }
                        if let caseId = item.caseId {
                            let known: String?
                            if let cached = owners[caseId] { known = cached } else {
                                known = try String.fetchOne(owner, arguments: [caseId])
                                owners[caseId] = known
                            }
                            if let known, known != item.deviceAgency {
                                out.append(try Bool.fetchOne(exists, arguments: [item.id]) == true ? .duplicate
                                           : .forbidden("case belongs to agency \(known), not to the device's agency \(item.deviceAgency)"))
                                continue
                            }
                        }
                        if startUnreleased + added >= maxEvents {
                            out.append(try Bool.fetchOne(exists, arguments: [item.id]) == true ? .duplicate : .full)
                            continue
                        }
                        try insert.execute(arguments: [item.id, item.caseId, item.source, item.type, item.time, item.contentType, Data(item.data), item.deviceId, now])
                        if db.changesCount == 0 {
                            out.append(.duplicate)
                            continue
                        }
                        if let opened = item.openedAgency, let caseId = item.caseId {
                            try claim.execute(arguments: [caseId, opened])
                            owners[caseId] = opened
                        }
                        added += 1
                        out.append(.accepted)
                    }
                    all.append(out)
                }
                return (all, added)
            }
            unreleasedCount.add(added, ordering: .relaxed)
            lastWriteFailed.store(false, ordering: .relaxed)
            for (r, o) in zip(batch, outcomes) { r.continuation.resume(returning: .success(o)) }
            if added > 0 { stored.notify() }
        } catch {
            lastWriteFailed.store(true, ordering: .relaxed)
            logger.error("outbox commit failed; the requests are answered 503", metadata: ["error": "\(error)"])
            for r in batch { r.continuation.resume(returning: .failure(error)) }
        }
    }

    /// Stored events after `seq` in states `states`, oldest first.
    public func rows(after seq: Int64, states: [Int], limit: Int) async throws -> [OutboxRow] {
        let list = states.map(String.init).joined(separator: ",")
        return try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, id, case_id, source, type, time, content_type, data FROM outbox
                WHERE seq > ? AND state IN (\(list)) ORDER BY seq LIMIT ?
                """, arguments: [seq, limit]).map(Self.row)
        }
    }

    /// Specific rows (for re-sending after a failed delivery), if still unreleased.
    public func rows(seqs: [Int64]) async throws -> [OutboxRow] {
        guard !seqs.isEmpty else { return [] }
        return try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, id, case_id, source, type, time, content_type, data FROM outbox
                WHERE state < 2 AND seq IN (\(seqs.map(String.init).joined(separator: ","))) ORDER BY seq
                """).map(Self.row)
        }
    }

    /// Delivered events still without a receipt after `olderThan`.
    public func unreceipted(deliveredBefore: Date, limit: Int) async throws -> [OutboxRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, id, case_id, source, type, time, content_type, data FROM outbox
                WHERE state = 1 AND delivered_at < ? ORDER BY seq LIMIT ?
                """, arguments: [deliveredBefore.timeIntervalSince1970, limit]).map(Self.row)
        }
    }

    private static func row(_ r: Row) -> OutboxRow {
        OutboxRow(
            seq: r["seq"], id: r["id"], caseId: r["case_id"], source: r["source"], type: r["type"], time: r["time"],
            contentType: r["content_type"], data: Array((r["data"] as Data?) ?? Data()))
    }

    /// Marks events (by outbox sequence number) delivered to Kafka; with `release`, also releases
    /// them (payload dropped).
    public func markDelivered(seqs: [Int64], release: Bool) async throws {
        guard !seqs.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        let released = try await pool.write { db -> Int in
            var n = 0
            for chunk in stride(from: 0, to: seqs.count, by: 500).map({ Array(seqs[$0..<min($0 + 500, seqs.count)]) }) {
                let list = chunk.map(String.init).joined(separator: ",")
                if release {
                    try db.execute(sql: "UPDATE outbox SET state = 2, data = NULL, delivered_at = ?, released_at = ? WHERE state < 2 AND seq IN (\(list))", arguments: [now, now])
                    n += db.changesCount
                } else {
                    try db.execute(sql: "UPDATE outbox SET state = 1, delivered_at = ? WHERE state < 2 AND seq IN (\(list))", arguments: [now])
                }
            }
            return n
        }
        unreleasedCount.subtract(released, ordering: .relaxed)
        if released > 0 { onRelease?() }
    }

    /// Releases events whose archive receipt arrived (ids unknown here are ignored).
    public func release(_ ids: [String]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        let now = Date().timeIntervalSince1970
        let n = try await pool.write { db -> Int in
            let release = try db.cachedStatement(sql: "UPDATE outbox SET state = 2, data = NULL, released_at = ? WHERE id = ? AND state < 2")
            var n = 0
            for id in ids {
                try release.execute(arguments: [now, id])
                n += db.changesCount
            }
            return n
        }
        unreleasedCount.subtract(n, ordering: .relaxed)
        if n > 0 { onRelease?() }
        return n
    }

    /// Forgets released events older than `before` (they are no longer recognised as duplicates).
    public func prune(releasedBefore before: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE state = 2 AND released_at < ?", arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }

    /// Counts by state (for tests and metrics).
    public func counts() async throws -> (stored: Int, delivered: Int, released: Int) {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
            var c = (0, 0, 0)
            for r in rows {
                switch r["state"] as Int {
                case 0: c.0 = r["n"]
                case 1: c.1 = r["n"]
                default: c.2 = r["n"]
                }
            }
            return c
        }
    }

    /// Stops the writer after the queued requests.
    public func close() async {
        let w = queue.withLock { q -> CheckedContinuation<Void, Never>? in
            q.stopped = true
            defer { q.writerWaiting = nil }
            return q.writerWaiting
        }
        w?.resume()
        await writerTask.withLock { $0 }?.value
        try? pool.close()
    }
}
