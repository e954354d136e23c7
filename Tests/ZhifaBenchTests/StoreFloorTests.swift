import Foundation
import GRDB
import Testing
import TestSupport
import ZhifaArchive
import ZhifaIngest
import ZhifaReview

/// `bench/floor` measures what the archive's, the ingest outbox's and the review's SQLite work
/// alone costs in plain C. Its figures mean something only while its tables and indexes are the stores' own.
@Suite("Store floors (bench/floor)")
struct StoreFloorTests {
    @Test("the C store floors build, run, and use the archive's, the outbox's and the review's current schema")
    func floorsMatchTheStores() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let run = try await runProgram(repositoryRoot.appendingPathComponent("bench/floor/run.sh").path, [],
                                       environment: ["RUNS": "1", "ROWS": "300", "FLOOR_DB_DIR": dir.url.path])
        #expect(run.status == 0, "bench/floor/run.sh failed: \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "one line per floor: \(run.stdout)")
        for (line, rate) in zip(lines, ["rows_per_s", "rows_per_s", "accepted_per_s", "events_per_s"]) {
            let value = line.split(separator: " ").first { $0.hasPrefix("\(rate)=") }.flatMap { Double($0.dropFirst(rate.count + 1)) }
            #expect((value ?? 0) > 0, "\(line) has no positive \(rate)")
        }

        let archive = dir.url.appendingPathComponent("real-archive.sqlite").path
        try await SQLiteArchiveStore(path: archive).close()
        let outbox = try Outbox(path: dir.url.appendingPathComponent("real-outbox.sqlite").path, maxEvents: 10, logger: testLogger())
        await outbox.close()
        let review = dir.url.appendingPathComponent("real-review.sqlite").path
        try await SQLiteReviewStore(path: review).close()

        let realArchive = try schema(of: archive, tables: ["entries"])
        #expect(!realArchive.isEmpty)
        #expect(try schema(of: dir.url.appendingPathComponent("archive.sqlite").path, tables: ["entries"]) == realArchive,
                "bench/floor/archive_floor.c no longer creates the archive store's entries table and indexes")
        let eventIdOnly = try schema(of: dir.url.appendingPathComponent("archive-event-id-only.sqlite").path, tables: ["entries"])
        #expect(eventIdOnly == realArchive.filter { ["entries", "entries_event", "sqlite_autoindex_entries_1"].contains($0.key) })
        let outboxTables = ["outbox", "case_agency"]
        let realOutbox = try schema(of: dir.url.appendingPathComponent("real-outbox.sqlite").path, tables: outboxTables)
        #expect(realOutbox.keys.contains("outbox_state"))
        #expect(try schema(of: dir.url.appendingPathComponent("outbox.sqlite").path, tables: outboxTables) == realOutbox,
                "bench/floor/outbox_floor.c no longer creates the ingest outbox's tables and index")
        let realEvents = try schema(of: review, tables: ["events"])
        #expect(realEvents.keys.contains("events_case"))
        #expect(try schema(of: dir.url.appendingPathComponent("review.sqlite").path, tables: ["events"]) == realEvents,
                "bench/floor/review_floor.c no longer creates the review store's events table and index")
    }

    /// SQL with runs of whitespace made one space, and none just inside parentheses or before commas.
    static func normalized(_ sql: String) -> String {
        sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            .replacingOccurrences(of: "( ", with: "(").replacingOccurrences(of: " )", with: ")").replacingOccurrences(of: " ,", with: ",")
    }

    /// The tables and indexes on `tables`, by name, with their SQL normalized.
    private func schema(of path: String, tables: [String]) throws -> [String: String] {
        let queue = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? queue.close() }
        let rows = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE tbl_name IN (\(tables.map { _ in "?" }.joined(separator: ",")))",
                             arguments: StatementArguments(tables))
        }
        var out: [String: String] = [:]
        for row in rows {
            let name: String = row["name"]
            let sql: String? = row["sql"]
            out[name] = sql.map(Self.normalized) ?? "(automatic)"
        }
        return out
    }
}
