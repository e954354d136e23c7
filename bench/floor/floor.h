/*
 * floor.h - what the store floors share: clocks, SQLite error checks, and opening a fresh store
 * with the services' settings (WAL, synchronous=FULL: every commit is fsynced).
 */
#ifndef ZHIFA_FLOOR_H
#define ZHIFA_FLOOR_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sqlite3 *db;

/* Wall-clock seconds. */
static double now(void) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

/* CPU seconds of the process, kernel time included. */
static double cpu(void) {
        struct timespec t;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return t.tv_sec + t.tv_nsec / 1e9;
}

/* Exits naming the step and SQLite's message unless `rc` is a success. */
static void check(int rc, const char *what) {
        if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
                fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
                exit(1);
        }
}

/* Creates the store at `path` afresh with `schema`, as the services open theirs. */
static void open_store(const char *path, const char *schema) {
        unlink(path);
        check(sqlite3_open(path, &db), "open");
        check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL), "pragmas");
        check(sqlite3_exec(db, schema, NULL, NULL, NULL), "schema");
}

/* Begins a transaction before row `i` and commits after it, every `group` rows and at the end. */
static void begin_group(int i, int group) {
        if (i % group == 0)
                check(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), "begin");
}
static void end_group(int i, int group, int rows) {
        if (i % group == group - 1 || i == rows - 1)
                check(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), "commit");
}

/* Exits with the usage unless a database path was given. */
static void require_path(int argc, const char *usage) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s\n", usage);
                exit(2);
        }
}

/* The integer argument `i`, or `fallback` when absent. */
static int int_arg(int argc, char **argv, int i, int fallback) { return argc > i ? atoi(argv[i]) : fallback; }

/* A prepared statement, or exit naming its SQL. */
static sqlite3_stmt *prepare(const char *sql) {
        sqlite3_stmt *statement;
        check(sqlite3_prepare_v2(db, sql, -1, &statement, NULL), sql);
        return statement;
}

/* A random-looking id, as UUIDs are: a unique index takes them in no order. */
static void event_id(char *out, size_t size, int i) {
        snprintf(out, size, "%08x-7b1f-4c55-9f0e-%012d", (unsigned)(i * 2654435761u), i);
}

#endif
