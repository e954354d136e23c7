/*
 * review_floor.c - the least the review's store can cost per event on this machine, in plain C.
 *
 * Does only the one write every event needs in `zhifa review`, with nothing of Kafka, validation,
 * case state, checks or Swift: the event stored once in the review store's `events` table (keyed by
 * its ce_id, which idempotency needs, and indexed by case, which rebuilding a case needs; as in
 * Sources/ZhifaReview/ReviewStore.swift), in structured mode (850 B: the bench's 542 B of data and
 * the CloudEvents envelope), one fsync'd WAL commit (synchronous=FULL) per GROUP events. Nothing of
 * the decisions, tasks or outputs the review also writes.
 *
 * Usage: review_floor DBPATH [EVENTS=15000] [GROUP=256]
 * Prints events/s on the one writer thread and CPU µs per event.
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
                fprintf(stderr, "usage: review_floor DBPATH [EVENTS] [GROUP]\n");
                return 2;
        }
        int events = argc > 2 ? atoi(argv[2]) : 15000;
        int group  = argc > 3 ? atoi(argv[3]) : 256;
        unlink(argv[1]);
        check(sqlite3_open(argv[1], &db), "open");
        check(sqlite3_exec(db,
                           "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           "CREATE TABLE events (event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, type TEXT NOT NULL,"
                           " time REAL NOT NULL, structured BLOB NOT NULL);"
                           "CREATE INDEX events_case ON events (case_id);",
                           NULL, NULL, NULL),
              "schema");
        sqlite3_stmt *insert;
        check(sqlite3_prepare_v2(db, "INSERT INTO events (event_id, case_id, type, time, structured) VALUES (?, ?, ?, ?, ?)",
                                 -1, &insert, NULL),
              "prepare");
        char structured[850], id[64], caseId[32];
        memset(structured, 's', sizeof structured);
        double t0 = now(), c0 = cpu();
        for (int i = 0; i < events; i++) {
                if (i % group == 0)
                        check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
                snprintf(id, sizeof id, "%08x-7b1f-4c55-9f0e-%012d", (unsigned)(i * 2654435761u), i);
                snprintf(caseId, sizeof caseId, "case-%d", (int)((i * 40503u) % 2200));
                sqlite3_bind_text(insert, 1, id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 2, caseId, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 3, "cn.zhifa.action.recorded.v1", -1, SQLITE_STATIC);
                sqlite3_bind_double(insert, 4, 1.7e9 + i);
                sqlite3_bind_blob(insert, 5, structured, sizeof structured, SQLITE_TRANSIENT);
                check(sqlite3_step(insert), "insert");
                sqlite3_reset(insert);
                if (i % group == group - 1 || i == events - 1)
                        check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
        }
        double seconds = now() - t0, cpuSeconds = cpu() - c0;
        printf("review_floor events=%d group=%d events_per_s=%.0f cpu_us_per_event=%.2f\n", events, group, events / seconds,
               cpuSeconds / events * 1e6);
        sqlite3_close(db);
        return 0;
}
