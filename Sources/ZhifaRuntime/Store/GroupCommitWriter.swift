import Foundation
import GRDB
import Logging
import Synchronization

/// Runs write closures against a SQLite pool in groups: every closure queued while a commit runs
/// goes into the next transaction, each in its own savepoint (one failing closure does not undo
/// the others). A closure's caller resumes only after the group committed — with
/// `synchronous=FULL`, after the fsync — so durability costs one fsync per group, not per write.
public final class GroupCommitWriter: Sendable {
    private struct Job {
        var work: @Sendable (Database) throws -> any Sendable
        var continuation: CheckedContinuation<Result<any Sendable, any Error>, Never>
    }

    private let pool: DatabasePool
    private let queue = Mutex<(jobs: [Job], waiting: CheckedContinuation<Void, Never>?, stopped: Bool)>(([], nil, false))
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// A writer for `pool`.
    public init(pool: DatabasePool) {
        self.pool = pool
        let t = Task { [weak self] in _ = await self?.loop() }
        task.withLock { $0 = t }
    }

    /// Runs `work` in the next group transaction and returns its result once committed.
    public func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<any Sendable, any Error>, Never>) in
            let (waiter, stopped) = queue.withLock { q -> (CheckedContinuation<Void, Never>?, Bool) in
                if q.stopped { return (nil, true) }
                q.jobs.append(Job(work: { try work($0) }, continuation: c))
                defer { q.waiting = nil }
                return (q.waiting, false)
            }
            if stopped { c.resume(returning: .failure(CancellationError())) }
            waiter?.resume()
        }
        return try result.get() as! T
    }

    private func loop() async {
        while let jobs = await next() {
            var results: [Result<any Sendable, any Error>] = []
            do {
                results = try await pool.write { db in
                    jobs.map { job in
                        var r: Result<any Sendable, any Error> = .failure(CancellationError())
                        do {
                            try db.inSavepoint {
                                r = .success(try job.work(db))
                                return .commit
                            }
                        } catch {
                            r = .failure(error)
                        }
                        return r
                    }
                }
            } catch {
                results = Array(repeating: .failure(error), count: jobs.count)
            }
            for (job, r) in zip(jobs, results) { job.continuation.resume(returning: r) }
        }
    }

    private func next() async -> [Job]? {
        while true {
            let taken = queue.withLock { q -> [Job]? in
                if !q.jobs.isEmpty { defer { q.jobs = [] }; return q.jobs }
                return q.stopped ? [] : nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (w: CheckedContinuation<Void, Never>) in
                let now = queue.withLock { q -> Bool in
                    if !q.jobs.isEmpty || q.stopped { return true }
                    q.waiting = w
                    return false
                }
                if now { w.resume() }
            }
        }
    }

    /// Finishes queued writes and stops.
    public func close() async {
        let w = queue.withLock { q -> CheckedContinuation<Void, Never>? in
            q.stopped = true
            defer { q.waiting = nil }
            return q.waiting
        }
        w?.resume()
        await task.withLock { $0 }?.value
    }
}

/// Opens a SQLite database for a service store: WAL, `synchronous=FULL`, foreign keys on.
public enum SQLiteStore {
    /// Opens (creating if needed) the store at `path`; every commit is fsynced before it returns.
    public static func open(_ path: String) throws -> DatabasePool {
        var c = Configuration()
        c.maximumReaderCount = 16  // many concurrent handlers read before they write
        c.busyMode = .timeout(15)  // operator commands (e.g. `zhifa archive verify`) share the file with the service
        c.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let pool = try DatabasePool(path: path, configuration: c)
        // Only now: GRDB's pool sets `synchronous = NORMAL` on its writer when it turns WAL on,
        // after `prepareDatabase` ran, and in WAL mode NORMAL does not fsync a commit (a power
        // loss can take back the last ones). The writer is the only connection that commits.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return pool
    }
}
