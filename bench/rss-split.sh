#!/usr/bin/env bash
# Peak resident set of one ccpipe row under load, split into anonymous memory
# (ccpipe's data) and file-backed pages (the executable and shared libraries).
# See bench/README.md, "the anonymous part of peak RSS".
#
#   bench/rss-split.sh BIN CONFIG PROTOCOL          # e.g. target/release/ccpipe bench/ccpipe-file.yaml http-json
#   HEAPTRACK=/tmp/ht bench/rss-split.sh ...        # the same under heaptrack (then heaptrack_print -f /tmp/ht.zst)
#   SMAPS=/tmp/s bench/rss-split.sh ...             # also the anonymous part by mapping at the peak
#
# Env: CONNECTIONS (32), RECORDS (100), DURATION (5s), WARMUP (2s), BENCH_COMPRESSION (none).
# The server runs on CPU 0, loadgen (and the datadog rows' sink) on CPU 1, as in bench/run.sh;
# /proc/PID/smaps_rollup is read every 0.2 s and the sample with the highest Rss is printed.
set -euo pipefail

[ $# -eq 3 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
BIN=$(realpath "$1") CONFIG=$2 PROTOCOL=$3
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET=$PWD/target
for tool in loadgen sink; do
    [ -x "$TARGET/release/$tool" ] || { echo "rss-split.sh: build it: cargo build --release -p ccpipe-bench --bin $tool" >&2; exit 1; }
done

WORK=$(mktemp -d "$TARGET/rss-split.XXXXXX")
SERVER= SINK=
cleanup() {
    [ -z "$SERVER" ] || kill -TERM "$SERVER" 2>/dev/null || true
    [ -z "$SINK" ] || kill "$SINK" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

read -r grpc http < <(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
export BENCH_GRPC_ENDPOINT=127.0.0.1:$grpc BENCH_HTTP_ENDPOINT=127.0.0.1:$http BENCH_OUT_DIR=$WORK
export BENCH_COMPRESSION=${BENCH_COMPRESSION:-none}
if grep -q BENCH_SINK "$CONFIG"; then
    taskset -c 1 "$TARGET/release/sink" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
        --ports-file "$WORK/sink.ports" >/dev/null 2>&1 &
    SINK=$!
    for _ in $(seq 50); do [ -s "$WORK/sink.ports" ] && break; sleep 0.1; done
    read -r sink_grpc sink_http <"$WORK/sink.ports"
    export BENCH_SINK_GRPC_ENDPOINT=127.0.0.1:$sink_grpc BENCH_SINK_HTTP_ENDPOINT=127.0.0.1:$sink_http
fi

port=$http
[ "$PROTOCOL" = grpc ] && port=$grpc
if [ -n "${HEAPTRACK:-}" ]; then
    taskset -c 0 heaptrack -o "$HEAPTRACK" "$BIN" --config "$CONFIG" >"$WORK/server.log" 2>&1 &
    launcher=$!
    # heaptrack starts ccpipe as its child: measure that one.
    for _ in $(seq 100); do SERVER=$(pgrep -P "$launcher" -f "$BIN" || true); [ -n "$SERVER" ] && break; sleep 0.1; done
else
    taskset -c 0 "$BIN" --config "$CONFIG" >"$WORK/server.log" 2>&1 &
    SERVER=$!
fi
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { tail -n 5 "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done

taskset -c 1 "$TARGET/release/loadgen" --protocol "$PROTOCOL" --records "${RECORDS:-100}" \
    --addr "127.0.0.1:$port" --connections "${CONNECTIONS:-32}" --duration "${DURATION:-5s}" \
    --warmup "${WARMUP:-2s}" --server-pid "$SERVER" --label "$(basename "$CONFIG" .yaml)" \
    >"$WORK/loadgen.json" 2>"$WORK/loadgen.txt" &
load=$!
best="0 0"
while kill -0 "$load" 2>/dev/null; do
    sample=$(awk '/^Rss:/ { r = $2 } /^Anonymous:/ { a = $2 } END { print r, a }' \
        "/proc/$SERVER/smaps_rollup" 2>/dev/null || echo "0 0")
    if [ "${sample%% *}" -gt "${best%% *}" ]; then
        best=$sample
        [ -z "${SMAPS:-}" ] || cp "/proc/$SERVER/smaps" "$SMAPS" 2>/dev/null || true
    fi
    sleep 0.2
done
wait "$load" || true
cat "$WORK/loadgen.txt"
read -r rss anon <<<"$best"
printf 'peak sampled: RSS %.1f MB = anonymous %.1f MB + file-backed %.1f MB\n' \
    "$(echo "$rss / 1000" | bc -l)" "$(echo "$anon / 1000" | bc -l)" "$(echo "($rss - $anon) / 1000" | bc -l)"
# The largest anonymous mappings at the peak: [heap] is glibc's main arena,
# a mapping of up to 64 MiB another arena, 2 MiB ones threads' stacks.
[ -z "${SMAPS:-}" ] || [ ! -s "$SMAPS" ] || python3 - "$SMAPS" <<'EOF'
import sys
rows, head = [], None
for line in open(sys.argv[1]):
    f = line.split()
    if f[0].count("-") == 1 and len(f) >= 5 and ":" in f[3]:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        head = ((hi - lo) // 1024, f[1], f[5] if len(f) > 5 else "(anonymous)")
    elif f[0] == "Anonymous:" and int(f[1]) > 0:
        rows.append((int(f[1]),) + head)
rows.sort(reverse=True)
print(f"anonymous at the peak: {sum(r[0] for r in rows)} kB in {len(rows)} mappings; the largest:")
for anon, size, perms, name in rows[:10]:
    print(f"{anon:8d} kB of {size:8d} kB {perms} {name}")
EOF
