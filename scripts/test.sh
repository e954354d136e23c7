#!/usr/bin/env bash
# Installs what is missing (libraries and test tooling), builds everything, and runs every test:
# unit, service tests against the embedded broker over real sockets, and end-to-end tests that
# start the real zhifa binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"
