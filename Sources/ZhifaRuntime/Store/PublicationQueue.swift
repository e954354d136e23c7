import Foundation
import GRDB
import ZhifaKafka

/// A service store's queue of events to publish on Kafka: written in the same transaction as the
/// change they report, sent by an `OutboxPublisher`, then marked sent.
///
/// Sent rows stay (they are the store's record of what it published); the partial index holds the
/// unsent ones only, so finding what is left to send reads those, not the whole history — without
/// it every round of the publisher scanned every row ever queued, values included.
public enum PublicationQueue {
    /// The table and its index of unsent rows (run when the store opens; idempotent).
    public static let schema = """
        CREATE TABLE IF NOT EXISTS publications (
            id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT, value BLOB NOT NULL, headers TEXT NOT NULL, sent INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS publications_unsent ON publications (id) WHERE sent = 0;
        """

    /// The oldest unsent rows, up to a limit.
    public static let pendingSQL = "SELECT id, topic, key, value, headers FROM publications WHERE sent = 0 ORDER BY id LIMIT ?"

    /// Queues `record` in the current transaction.
    public static func enqueue(_ record: KafkaRecord, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO publications (topic, key, value, headers) VALUES (?, ?, ?, ?)")
            .execute(arguments: StatementArguments(columns(of: record)))
    }

    /// Up to `limit` unsent records, oldest first, with their row ids.
    public static func pending(limit: Int, in db: Database) throws -> [(id: Int64, record: KafkaRecord)] {
        try Row.fetchAll(db.cachedStatement(sql: pendingSQL), arguments: [limit]).map { row in (row["id"], record(row)) }
    }

    /// A record as the columns `topic, key, value, headers` hold it (no key is NULL), for this
    /// queue and for any other table a store keeps records in.
    public static func columns(of record: KafkaRecord) -> [any DatabaseValueConvertible & Sendable] {
        [record.topic, record.key.map { String(decoding: $0, as: UTF8.self) }, Data(record.value ?? []), headersText(record.headers)]
    }

    /// A record read back from `columns(of:)`'s columns (an empty key, as older rows may hold, is none).
    public static func record(_ row: Row) -> KafkaRecord {
        let key = (row["key"] as String?).flatMap { $0.isEmpty ? nil : $0 }
        return KafkaRecord(topic: row["topic"], key: key, value: Array((row["value"] as Data?) ?? Data()), headers: headers(row["headers"]))
    }

    /// Marks rows sent.
    public static func markSent(_ ids: [Int64], in db: Database) throws {
        guard !ids.isEmpty else { return }
        try db.execute(sql: "UPDATE publications SET sent = 1 WHERE id IN (\(ids.map(String.init).joined(separator: ",")))")
    }

    /// Text headers as stored: one `name<TAB>value` line each.
    public static func headersText(_ headers: [KafkaHeader]) -> String {
        headers.map { "\($0.name)\t\($0.text ?? "")" }.joined(separator: "\n")
    }

    /// Headers read back from `headersText`.
    public static func headers(_ text: String) -> [KafkaHeader] {
        text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return KafkaHeader(String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
}
