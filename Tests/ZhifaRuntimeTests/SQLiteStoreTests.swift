import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaKafka
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

    /// What a queued record must keep.
    struct Fields: Equatable {
        let topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader]
        init(_ r: KafkaRecord) { (topic, key, value, headers) = (r.topic, r.key, r.value, r.headers) }
    }

    @Test("a store's publication queue hands out unsent records oldest first, as queued, and finds them through the index of unsent rows")
    func publicationQueue() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let pool = try SQLiteStore.open(dir.url.appendingPathComponent("store.sqlite").path)
        defer { try? pool.close() }
        let records = [
            KafkaRecord(topic: "zhifa.review.v1", key: "case-1", value: Array(#"{"n":1}"#.utf8), headers: [KafkaHeader("ce_id", "a"), KafkaHeader("ce_type", "t")]),
            KafkaRecord(topic: "zhifa.review.v1", key: nil, value: Array(#"{"n":2}"#.utf8), headers: [KafkaHeader("ce_id", "b")]),
            KafkaRecord(topic: "zhifa.publicity.v1", key: "case-3", value: [], headers: []),
        ]
        try await pool.write { db in
            try db.execute(sql: PublicationQueue.schema)
            for r in records { try PublicationQueue.enqueue(r, in: db) }
        }
        let first = try await pool.read { try PublicationQueue.pending(limit: 2, in: $0) }
        #expect(first.map { Fields($0.record) } == records.prefix(2).map(Fields.init))
        try await pool.write { try PublicationQueue.markSent(first.map(\.id), in: $0) }
        let rest = try await pool.read { try PublicationQueue.pending(limit: 10, in: $0) }
        #expect(rest.map { Fields($0.record) } == [Fields(records[2])])
        #expect(try await pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM publications") } == 3, "sent rows stay")
        let plan = try await queryPlan(PublicationQueue.pendingSQL, arguments: [500], in: pool)
        #expect(plan.contains { $0.contains("INDEX publications_unsent") }, "query plan: \(plan)")
    }
}
