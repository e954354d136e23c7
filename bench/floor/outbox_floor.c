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
#include "floor.h"

int main(int argc, char **argv) {
        require_path(argc, "outbox_floor DBPATH [EVENTS] [GROUP]");
        int events = int_arg(argc, argv, 2, 30000);
        int group  = int_arg(argc, argv, 3, 800);
        open_store(argv[1],
                   "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
                   " case_id TEXT, source TEXT NOT NULL, type TEXT NOT NULL, time TEXT NOT NULL,"
                   " content_type TEXT, data BLOB, device_id TEXT, accepted_at REAL NOT NULL,"
                   " state INTEGER NOT NULL DEFAULT 0, delivered_at REAL, released_at REAL);"
                   "CREATE INDEX outbox_state ON outbox (state, seq);"
                   "CREATE TABLE case_agency (case_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL);");
        sqlite3_stmt *insert = prepare("INSERT OR IGNORE INTO outbox (id, case_id, source, type, time, content_type, data,"
                                       " device_id, accepted_at) VALUES (?,?,?,?,?,?,?,?,?)");
        sqlite3_stmt *owner = prepare("SELECT agency_id FROM case_agency WHERE case_id = ?");
        sqlite3_stmt *claim = prepare("INSERT OR IGNORE INTO case_agency (case_id, agency_id) VALUES (?, ?)");
        sqlite3_stmt *release = prepare("UPDATE outbox SET state = 2, data = NULL, delivered_at = ?1, released_at = ?1"
                                        " WHERE seq = ?2 AND state < 2");

        char data[542], id[64], caseId[32];
        memset(data, 'd', sizeof data);
        double t0 = now(), c0 = cpu();
        for (int i = 0; i < events; i++) {
                begin_group(i, group);
                event_id(id, sizeof id, i);
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
                end_group(i, group, events);
        }
        double t1 = now(), c1 = cpu();
        for (int i = 0; i < events; i++) {
                begin_group(i, 1000);
                sqlite3_bind_double(release, 1, 1.7e9);
                sqlite3_bind_int64(release, 2, i + 1);
                check(sqlite3_step(release), "release");
                sqlite3_reset(release);
                end_group(i, 1000, events);
        }
        double c2 = cpu();
        printf("outbox_floor events=%d group=%d accepted_per_s=%.0f cpu_us_per_event accept=%.2f release=%.2f total=%.2f\n",
               events, group, events / (t1 - t0), (c1 - c0) / events * 1e6, (c2 - c1) / events * 1e6,
               (c2 - c0) / events * 1e6);
        sqlite3_close(db);
        return 0;
}
