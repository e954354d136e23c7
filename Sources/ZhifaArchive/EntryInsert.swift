import Foundation
import GRDB
import GRDBSQLite
import ZhifaDomain

/// Inserts one archive entry through SQLite's C API on GRDB's cached statement.
///
/// This runs once per archived message on the store's single writer, the archive's bottleneck:
/// binding the 22 values directly costs a fraction of building GRDB's `StatementArguments` (an
/// array of boxed values, and a `Data` copy of the payload). The statement runs inside GRDB's
/// transaction like any other; nothing else uses it.
enum EntryInsert {
    static let sql = """
        INSERT INTO entries (chain, seq, kind, event_id, topic, partition, offset, key, headers, received_at, valid, invalid_reason, case_id, event_type,
                             payload_sha256, payload_size, prev_hash, hash, payload, device_id, segment_id, started_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (event_id) DO NOTHING
        """

    /// Inserts `e`; false (and nothing written) when an entry with its event id exists.
    static func run(_ db: Database, _ e: ArchiveEntry, headersJSON: String, payload: [UInt8], deviceId: String?, segmentId: String?, startedAt: Date?) throws -> Bool {
        let statement = try db.cachedStatement(sql: sql)
        let s = statement.sqliteStatement
        // Reset after every use, bindings failed or not (the next use binds every parameter again).
        defer { sqlite3_reset(s) }
        var b = Binder(statement: s)
        b.text(e.chain)
        b.int(e.sequence)
        b.text(e.kind.rawValue)
        b.text(e.eventId)
        b.text(e.topic)
        b.int(Int64(e.partition))
        b.int(e.offset)
        b.text(e.key)
        b.text(headersJSON)
        b.text(e.receivedAt)
        b.int(e.valid ? 1 : 0)
        b.text(e.invalidReason)
        b.text(e.caseId)
        b.text(e.eventType)
        b.text(e.payloadSha256)
        b.int(e.payloadSize)
        b.text(e.prevHash)
        b.text(e.hash)
        b.blob(payload)
        b.text(deviceId)
        b.text(segmentId)
        b.real(startedAt?.timeIntervalSince1970)
        if b.failure != SQLITE_OK {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            throw DatabaseError(resultCode: ResultCode(rawValue: b.failure), message: "binding parameter \(b.failedIndex) of an archive entry: \(message)", sql: sql)
        }
        let rc = sqlite3_step(s)
        guard rc == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: sql)
        }
        return db.changesCount > 0
    }

    /// Binds parameters in order, copying each value (`SQLITE_TRANSIENT`); keeps the first failure.
    struct Binder {
        let statement: OpaquePointer
        var index: Int32 = 0
        var failure: Int32 = SQLITE_OK
        var failedIndex: Int32 = 0
        static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

        init(statement: OpaquePointer) { self.statement = statement }

        private mutating func check(_ rc: Int32) {
            if rc != SQLITE_OK && failure == SQLITE_OK {
                failure = rc
                failedIndex = index
            }
        }

        mutating func text(_ value: String?) {
            index += 1
            guard var value else {
                check(sqlite3_bind_null(statement, index))
                return
            }
            let i = index
            check(value.withUTF8 { utf8 in
                if let base = utf8.baseAddress, utf8.count > 0 {
                    sqlite3_bind_text(statement, i, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(utf8.count), Self.transient)
                } else {
                    sqlite3_bind_text(statement, i, "", 0, Self.transient)
                }
            })
        }

        mutating func int(_ value: Int64) {
            index += 1
            check(sqlite3_bind_int64(statement, index, value))
        }

        mutating func real(_ value: Double?) {
            index += 1
            check(value.map { sqlite3_bind_double(statement, index, $0) } ?? sqlite3_bind_null(statement, index))
        }

        /// An empty payload is an empty blob, not NULL (NULL marks a payload removed by retention).
        mutating func blob(_ bytes: [UInt8]) {
            index += 1
            let i = index
            check(bytes.withUnsafeBytes { raw in
                if let base = raw.baseAddress, raw.count > 0 {
                    sqlite3_bind_blob64(statement, i, base, sqlite3_uint64(raw.count), Self.transient)
                } else {
                    sqlite3_bind_zeroblob(statement, i, 0)
                }
            })
        }
    }
}
