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
 * Usage: review_floor DBPATH [EVENTS=15000] [GROUP=2000]
 * Prints events/s on the one writer thread and CPU µs per event.
 */
#include "floor.h"

int main(int argc, char **argv) {
        require_path(argc, "review_floor DBPATH [EVENTS] [GROUP]");
        int events = int_arg(argc, argv, 2, 15000);
        int group  = int_arg(argc, argv, 3, 2000);
        open_store(argv[1],
                   "CREATE TABLE events (event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, type TEXT NOT NULL,"
                   " time REAL NOT NULL, structured BLOB NOT NULL);"
                   "CREATE INDEX events_case ON events (case_id);");
        sqlite3_stmt *insert = prepare("INSERT INTO events (event_id, case_id, type, time, structured) VALUES (?, ?, ?, ?, ?)");
        char structured[850], id[64], caseId[32];
        memset(structured, 's', sizeof structured);
        double t0 = now(), c0 = cpu();
        for (int i = 0; i < events; i++) {
                begin_group(i, group);
                event_id(id, sizeof id, i);
                snprintf(caseId, sizeof caseId, "case-%d", (int)((i * 40503u) % 2200));
                sqlite3_bind_text(insert, 1, id, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 2, caseId, -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(insert, 3, "cn.zhifa.action.recorded.v1", -1, SQLITE_STATIC);
                sqlite3_bind_double(insert, 4, 1.7e9 + i);
                sqlite3_bind_blob(insert, 5, structured, sizeof structured, SQLITE_TRANSIENT);
                check(sqlite3_step(insert), "insert");
                sqlite3_reset(insert);
                end_group(i, group, events);
        }
        double seconds = now() - t0, cpuSeconds = cpu() - c0;
        printf("review_floor events=%d group=%d events_per_s=%.0f cpu_us_per_event=%.2f\n", events, group, events / seconds,
               cpuSeconds / events * 1e6);
        sqlite3_close(db);
        return 0;
}
