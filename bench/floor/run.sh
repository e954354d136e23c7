#!/usr/bin/env bash
# Builds and runs the store floors: what the archive's, the ingest outbox's and the review's SQLite work alone
# costs on this machine in plain C (see README.md). Installs gcc and the headers if missing.
#   bench/floor/run.sh                  # 3 runs of each, at the sizes `zhifa bench` uses
#   RUNS=1 ROWS=200 bench/floor/run.sh  # one quick run of each
#   FLOOR_DB_DIR=DIR keeps the databases there (the tests compare their schema with the stores')
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs="${RUNS:-3}"
archive_rows="${ROWS:-15000}"   # `zhifa bench archive`: 15,000 events, batches of up to 2,000
outbox_events="${ROWS:-30000}"  # `zhifa bench ingest`: 300 requests of 100, 8 at once
review_events="${ROWS:-15000}"  # `zhifa bench review`: 15,000 events
"$here/../../scripts/install-deps.sh" --floor
out="$here/../../.build-floor"
mkdir -p "$out"
gcc -O2 -Wall -Wextra -Werror -o "$out/archive_floor" "$here/archive_floor.c" -lsqlite3 -lcrypto
gcc -O2 -Wall -Wextra -Werror -o "$out/outbox_floor" "$here/outbox_floor.c" -lsqlite3
gcc -O2 -Wall -Wextra -Werror -o "$out/review_floor" "$here/review_floor.c" -lsqlite3
if [ -n "${FLOOR_DB_DIR:-}" ]; then
  db="$FLOOR_DB_DIR"
  mkdir -p "$db"
else
  db="$(mktemp -d)"
  trap 'rm -rf "$db"' EXIT
fi
for _ in $(seq "$runs"); do
  "$out/archive_floor" "$db/archive.sqlite" "$archive_rows" 2000 1
  "$out/archive_floor" "$db/archive-event-id-only.sqlite" "$archive_rows" 2000 0
  "$out/outbox_floor" "$db/outbox.sqlite" "$outbox_events" 800
  "$out/review_floor" "$db/review.sqlite" "$review_events" 2000
done
