#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole system on the embedded broker with demo traffic.
# Extra arguments go to `zhifa up` (e.g. --data-dir /tmp/zhifa).
set -euo pipefail
cd "$(dirname "$0")/.."
# The toolchain lives in /opt/swift on this project's machines; use it when it is not on PATH.
command -v swift >/dev/null || { [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"; } || true
scripts/install-deps.sh
swift build -c release --product zhifa
exec .build/release/zhifa up --demo "$@"
