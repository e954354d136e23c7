/*
 * outbox_floor.c - the least the ingest outbox's store can cost on this machine, in plain C.
 *
 * Does only the store work of `zhifa ingest` for accepted events, with nothing of HTTP, signatures,
 * validation, Kafka or Swift: the outbox table and its index and the case-agency table (as in
 * Sources/ZhifaIngest/Outbox.swift); per event, the case's agency looked up (and claimed for a new
 * case) and the event inserted with its data (542 B, the simulator's average); one fsync'd WAL
 * commit (synchronous=FULL) per GROUP events, as group commit of concurrent requests does. Then
 * each event is released (state 2, data dropped) as its delivery report or receipt would, in
 * commits of 1,000.
 *
 * Usage: outbox_floor DBPATH [EVENTS=30000] [GROUP=800]
 * Prints accepted events/s on the one writer thread, and CPU µs per event for accepting and
 * releasing.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sqlite3 *db;

static double now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}
static double cpu(void) {
        struct timespec t;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}
static void check(int rc, const char *what) {
        if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
                fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
                exit(1);
        }
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: outbox_floor DBPATH [EVENTS] [GROUP]\n");
                return 2;
        }
        int events = argc > 2 ? atoi(argv[2]) : 30000;
        int group  = argc > 3 ? atoi(argv[3]) : 800;
        unlink(argv[1]);
        check(sqlite3_open(argv[1], &db), "open");
        check(sqlite3_exec(db,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
                           " case_id TEXT, source TEXT NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,"
                           " content_type TEXT, data BLOB, device_id TEXT, accepted_at REAL NOT NULL,"
                           " state INTEGER NOT NULL DEFAULT 0, delivered_at REAL, released_at REAL);"
                           "CREATE INDEX outbox_state ON outbox (state, seq);"
                           "CREATE TABLE case_agency (case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL);",
                           NULL, NULL, NULL),
              "schema");
        sqlite3_stmt *insert, *owner, *claim, *release;
        check(sqlite3_prepare_v2(db,
                                 "INSERT OR IGNORE INTO outbox (id, case_id, source, type, time, content_type, data,"
                                 " device_id, accepted_at) VALUES (?,?,?,?,?,?,?,?,?)",
                                 -1, &insert, NULL),
              "prepare insert");
        check(sqlite3_prepare_v2(db, "SELECT agency_id FROM case_agency WHERE case_id = ?", -1, &owner, NULL),
              "prepare owner");
        check(sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO case_agency (case_id, agency_id) VALUES (?, ?)", -1,
                                 &claim, NULL),
              "prepare claim");
        check(sqlite3_prepare_v2(db,
                                 "UPDATE outbox SET state = 2, data = NULL, delivered_at = ?1, released_at = ?1"
                                 " WHERE seq = ?2 AND state < 2",
                                 -1, &release, NULL),
              "prepare release");

        char data[542], id[64], caseId[32];
        memset(data, 'd', sizeof data);
        double t0 = now(), c0 = cpu();
        for (int i = 0; i < events; i++) {
                if (i % group == 0)
                        check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
                snprintf(id, sizeof id, "%08x-7b1f-4c55-9f0e-%012d", (unsigned)(i * 2654435761u), i);
                snprintf(caseId, sizeof caseId, "case-%d", i / 7);
                sqlite3_bind_text(owner, 1, caseId, -1, SQLITE_TRANSIENT);
                int found = sqlite3_step(owner) == SQLITE_ROW;
                sqlite3_reset(owner);
                if (!found) {
                        sqlite3_bind_text(claim, 1, caseId, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_text(claim, 2, "agency-1", -1, SQLITE_STATIC);
                        check(sqlite3_step(claim), "claim");
                        sqlite3_reset(claim);
                }
                sqlite3_bind_text(insert, 1, id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 2, caseId, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 3, "device/cam-07", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, 4, "cn.zhifa.action.recorded.v1", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, 5, "2026-12-07T23:00:00+08:00", -1, SQLITE_STATIC);
                sqlite3_bind_text(insert, 6, "application/json", -1, SQLITE_STATIC);
                sqlite3_bind_blob(insert, 7, data, sizeof data, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 8, "cam-07", -1, SQLITE_STATIC);
                sqlite3_bind_double(insert, 9, 1.7e9);
                check(sqlite3_step(insert), "insert");
                sqlite3_reset(insert);
                if (i % group == group - 1 || i == events - 1)
                        check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
        }
        double t1 = now(), c1 = cpu();
        for (int i = 0; i < events; i++) {
                if (i % 1000 == 0)
                        check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
                sqlite3_bind_double(release, 1, 1.7e9);
                sqlite3_bind_int64(release, 2, i + 1);
                check(sqlite3_step(release), "release");
                sqlite3_reset(release);
                if (i % 1000 == 999 || i == events - 1)
                        check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
        }
        double c2 = cpu();
        printf("outbox_floor events=%d group=%d accepted_per_s=%.0f cpu_us_per_event accept=%.2f release=%.2f total=%.2f\n",
               events, group, events / (t1 - t0), (c1 - c0) / events * 1e6, (c2 - c1) / events * 1e6,
               (c2 - c0) / events * 1e6);
        sqlite3_close(db);
        return 0;
}
