import Foundation
import GRDB
import Testing
import TestSupport
@testable import ZhifaRuntime

@Suite("Service stores on SQLite")
struct SQLiteStoreTests {
    /// The writer connection's `PRAGMA synchronous` (the connection that commits).
    func writerSynchronous(_ pool: DatabasePool) async throws -> Int? {
        try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
    }

    @Test("a store's writer fsyncs every commit (synchronous=FULL survives GRDB turning WAL on), on first open and reopen")
    func writerIsFull() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let path = dir.url.appendingPathComponent("store.sqlite").path
        for _ in 0..<2 {
            let pool = try SQLiteStore.open(path)
            #expect(try await pool.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
            #expect(try await writerSynchronous(pool) == 2, "2 = FULL; GRDB's default for a WAL pool is 1 = NORMAL")
            #expect(try await pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA foreign_keys") } == 1)
            let writer = GroupCommitWriter(pool: pool)
            try await writer.write { db in
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS t (n INTEGER)")
                try db.execute(sql: "INSERT INTO t (n) VALUES (1)")
            }
            await writer.close()
            #expect(try await writerSynchronous(pool) == 2, "still FULL after group commits")
            try pool.close()
        }
        let pool = try SQLiteStore.open(path)
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM t") } == 2)
    }
}
