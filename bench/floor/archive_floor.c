/*
 * archive_floor.c - the least the archive's store can cost on this machine, in plain C.
 *
 * Does only the store work of `zhifa archive`, with nothing of Kafka, validation or Swift: the
 * archive's `entries` table with its primary key and its four indexes (as in
 * Sources/ZhifaArchive/ArchiveStore.swift), one row per message of the bench's average size
 * (542 B payload, ~420 B of headers), SHA-256 of the payload and of the previous hash with the
 * entry's bytes, one fsync'd WAL commit (synchronous=FULL) per batch, as the archive's writer does.
 *
 * Usage: archive_floor DBPATH [ROWS=15000] [BATCH=2000] [INDEXES=1]
 *   INDEXES=0 keeps only the primary key and the unique event id (what idempotency needs).
 * Prints rows/s on the one writer thread and CPU µs per row.
 */
#include <openssl/evp.h>

#include "floor.h"

static EVP_MD *md;
static EVP_MD_CTX *mctx;

static void sha256hex(const void *p, size_t n, char out[65]) {
        static const char digits[] = "0123456789abcdef";
        unsigned char h[32];
        unsigned int len;
        EVP_DigestInit_ex(mctx, md, NULL);
        EVP_DigestUpdate(mctx, p, n);
        EVP_DigestFinal_ex(mctx, h, &len);
        for (int i = 0; i < 32; i++) {
                out[2 * i]     = digits[h[i] >> 4];
                out[2 * i + 1] = digits[h[i] & 15];
        }
        out[64] = 0;
}

int main(int argc, char **argv) {
        require_path(argc, "archive_floor DBPATH [ROWS] [BATCH] [INDEXES]");
        int rows    = int_arg(argc, argv, 2, 15000);
        int batch   = int_arg(argc, argv, 3, 2000);
        int indexes = int_arg(argc, argv, 4, 1);
        md          = EVP_MD_fetch(NULL, "SHA256", NULL);
        mctx        = EVP_MD_CTX_new();
        open_store(argv[1],
                   "CREATE TABLE entries (chain TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,"
                   " event_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
                   " offset INTEGER NOT NULL, key TEXT, headers TEXT NOT NULL, received_at TEXT NOT NULL,"
                   " valid INTEGER NOT NULL, invalid_reason TEXT, case_id TEXT, event_type TEXT,"
                   " payload_sha256 TEXT NOT NULL, payload_size INTEGER NOT NULL, prev_hash TEXT NOT NULL,"
                   " hash TEXT NOT NULL, payload BLOB, device_id TEXT, segment_id TEXT, started_at REAL,"
                   " PRIMARY KEY (chain, seq));"
                   "CREATE UNIQUE INDEX entries_event ON entries (event_id);");
        if (indexes)
                check(sqlite3_exec(db,
                                   "CREATE INDEX entries_case ON entries (case_id);"
                                   "CREATE INDEX entries_device_order ON entries (device_id, started_at, segment_id)"
                                   " WHERE device_id IS NOT NULL;"
                                   "CREATE INDEX entries_closed ON entries (case_id)"
                                   " WHERE event_type = 'cn.zhifa.case.closed.v1' AND valid = 1;",
                                   NULL, NULL, NULL),
                      "indexes");
        sqlite3_stmt *insert = prepare("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                                       " ON CONFLICT (event_id) DO NOTHING");

        char payload[542], headers[420], entry[2048];
        memset(payload, 'x', sizeof payload);
        memset(headers, 'h', sizeof headers - 1);
        headers[sizeof headers - 1] = 0;
        char prev[65], hash[65], payloadHash[65], id[64], caseId[32], chain[32];
        memset(prev, '0', 64);
        prev[64] = 0;

        double t0 = now(), c0 = cpu();
        for (int i = 0; i < rows; i++) {
                begin_group(i, batch);
                event_id(id, sizeof id, i);
                snprintf(caseId, sizeof caseId, "case-%d", i % 2200);
                snprintf(chain, sizeof chain, "zhifa.events.v1/%d", i % 6);
                sha256hex(payload, sizeof payload, payloadHash);
                int n = snprintf(entry, sizeof entry, "%s|%s|%s|%s|%s", prev, id, headers, caseId, payloadHash);
                sha256hex(entry, n, hash);
                int col = 0;
                sqlite3_bind_text(insert, ++col, chain, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(insert, ++col, i / 6 + 1);
                sqlite3_bind_text(insert, ++col, "message", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, ++col, id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, ++col, "zhifa.events.v1", -1, SQLITE_STATIC);
                sqlite3_bind_int64(insert, ++col, i % 6);
                sqlite3_bind_int64(insert, ++col, i / 6);
                sqlite3_bind_text(insert, ++col, "Y2FzZS0xMjM0", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, ++col, headers, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, ++col, "2026-12-07T23:00:00.123+08:00", -1, SQLITE_STATIC);
                sqlite3_bind_int64(insert, ++col, 1);
                sqlite3_bind_null(insert, ++col);
                sqlite3_bind_text(insert, ++col, caseId, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, ++col, "cn.zhifa.action.recorded.v1", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, ++col, payloadHash, 64, SQLITE_TRANSIENT);
                sqlite3_bind_int64(insert, ++col, sizeof payload);
                sqlite3_bind_text(insert, ++col, prev, 64, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, ++col, hash, 64, SQLITE_TRANSIENT);
                sqlite3_bind_blob(insert, ++col, payload, sizeof payload, SQLITE_TRANSIENT);
                if (i % 3 == 0) { /* a third are recordings, with device, segment and start */
                        sqlite3_bind_text(insert, ++col, "cam-07", -1, SQLITE_STATIC);
                        sqlite3_bind_text(insert, ++col, id, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_double(insert, ++col, 1.7e9 + i);
                } else {
                        sqlite3_bind_null(insert, ++col);
                        sqlite3_bind_null(insert, ++col);
                        sqlite3_bind_null(insert, ++col);
                }
                check(sqlite3_step(insert), "insert");
                sqlite3_reset(insert);
                memcpy(prev, hash, 65);
                end_group(i, batch, rows);
        }
        double seconds = now() - t0, cpuSeconds = cpu() - c0;
        printf("archive_floor rows=%d batch=%d indexes=%s rows_per_s=%.0f cpu_us_per_row=%.2f\n", rows, batch,
               indexes ? "all" : "event_id", rows / seconds, cpuSeconds / rows * 1e6);
        sqlite3_close(db);
        return 0;
}
