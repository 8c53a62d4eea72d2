#!/usr/bin/env bash
# The view's page over a store: ccpipe serves the database, headless Chromium
# opens the page and times navigation → every panel drawn. See bench/README.md.
#
#   bench/view.sh                          # target/store-bench/year.db (store-bench year)
#   bench/view.sh path/to/ccpipe.db 30d all
#
# Ranges: 24h 7d 30d 90d all (default: 30d, the page's default, and all).
# Env: RUNS (5), SKIP_BUILD=1 (use target/release/ccpipe as it is),
#      CCPIPE_BIN=PATH, CHROMIUM (/usr/bin/chromium).
# ccpipe opens the file with retention off (max_age: 0, max_size: 0): it
# changes nothing in it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DB=${1:-target/store-bench/year.db}
shift || true
RANGES=("$@")
[ ${#RANGES[@]} -gt 0 ] || RANGES=(30d all)
RUNS=${RUNS:-5}
CCPIPE_BIN=${CCPIPE_BIN:-$ROOT/target/release/ccpipe}

[ -f "$DB" ] || { echo "no database at $DB: make one with store-bench year (bench/README.md)" >&2; exit 2; }
DB=$(realpath "$DB")
if [ -z "${SKIP_BUILD:-}" ] && [ "$CCPIPE_BIN" = "$ROOT/target/release/ccpipe" ]; then
    cargo build --release --bin ccpipe
fi
[ -d tests/browser/node_modules/playwright-core ] ||
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/config.yaml" <<EOF
receivers:
  otlp: { protocols: { http: { endpoint: "127.0.0.1:0" } } }
exporters:
  sqlite: { path: "$DB", max_age: 0, max_size: 0 }
service:
  health: { address: "" }
  telemetry: { metrics: { address: "" } }
  view: { endpoint: "127.0.0.1:0" }
  pipelines:
    logs: { receivers: [otlp], exporters: [sqlite] }
EOF

"$CCPIPE_BIN" --config "$work/config.yaml" 2>"$work/stderr" &
pid=$!
url=
for _ in $(seq 1 300); do
    url=$(sed -n 's/^ *view: *\(http:[^ ]*\).*/\1/p' "$work/stderr" | head -1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; exit 1; }
    sleep 0.1
done
[ -n "$url" ] || { echo "ccpipe printed no view address:" >&2; cat "$work/stderr" >&2; exit 1; }

echo "database: $DB ($(du -h "$DB" | cut -f1)), served by $CCPIPE_BIN at $url"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
node bench/view.mjs "$url" "$RUNS" "${RANGES[@]}"
