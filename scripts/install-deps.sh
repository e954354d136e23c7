#!/usr/bin/env bash
# Installs what Zhifa needs from Debian (with --test, the test tooling too; with --floor, only what
# the C programs of bench/floor need). Idempotent; run as root.
set -euo pipefail
floor=(gcc libsqlite3-dev libssl-dev)
if [ "${1:-}" = "--floor" ]; then
  packages=("${floor[@]}")
else
  packages=(librdkafka-dev libjemalloc-dev libsqlite3-dev zlib1g-dev pkg-config)
fi
if [ "${1:-}" = "--test" ]; then
  packages+=(chromium chromium-driver fonts-wqy-zenhei kcat sqlite3 python3 python3-pip "${floor[@]}")
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = "--test" ]; then
  modules="jsonschema feedparser rfc3339-validator selenium"
  if ! python3 -c "import jsonschema, feedparser, rfc3339_validator, selenium" 2>/dev/null; then
    # Debian marks its Python as externally managed (PEP 668); these are test tools only.
    python3 -m pip install -q $modules >&2 2>/dev/null || python3 -m pip install -q --break-system-packages $modules >&2
  fi
fi
[ "${1:-}" = "--floor" ] && exit 0
command -v swift >/dev/null || { echo "swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
