#!/usr/bin/env bash
# Installs what is missing (libraries and test tooling), builds everything, and runs every test:
# unit, service tests against the embedded broker over real sockets, and end-to-end tests that
# start the real zhifa binary.
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain lives in /opt/swift on this project's machines; use it when it is not on PATH.
command -v swift >/dev/null || { [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"; } || true
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"
# The whole run (no filter) also builds the release binary scripts/run.sh starts: Swift's
# optimizer has crashed on code the debug build compiles.
if [ $# -eq 0 ]; then swift build -c release --product zhifa; fi
