#!/usr/bin/env bash
# Side-by-side benchmark, ccpipe vs rotel: Claude-Code-shaped OTLP log requests,
# server pinned to one core, load generator on another. See bench/README.md.
#
#   bench/run.sh                       # the whole matrix (about 3 minutes)
#   bench/run.sh grpc 100              # a subset: any protocols, record counts, servers
#   bench/run.sh rotel ccpipe-nop http-json
#   bench/run.sh rotel-otlp ccpipe-datadog ccpipe-datadog-gzip   # the forwarding rows
#   DURATION=30s bench/run.sh          # longer measured window per cell
#
# Env: DURATION (5s), WARMUP (2s), CONNECTIONS (4), SERVER_CPU (0), CLIENT_CPU (1),
#      SKIP_BUILD=1 (use the binaries already in target/release).
#      CCPIPE_BIN=PATH (measure this ccpipe binary instead, e.g. a saved baseline).
# Writes target/bench-results.md (the table) and target/bench-results.jsonl (raw).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-4}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

ALL_PROTOCOLS=(http-protobuf http-json grpc)
ALL_RECORDS=(100 1000)
ALL_SERVERS=(rotel ccpipe-nop ccpipe-file ccpipe-file-devnull rotel-otlp ccpipe-datadog ccpipe-datadog-gzip)

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

protocols=() records=() servers=()
for arg in "$@"; do
    case $arg in
        http-protobuf | http-json | grpc) protocols+=("$arg") ;;
        rotel | ccpipe-nop | ccpipe-file | ccpipe-file-devnull | rotel-otlp | ccpipe-datadog | ccpipe-datadog-gzip)
            servers+=("$arg") ;;
        -h | --help) usage ;;
        '' | *[!0-9]*)
            echo "run.sh: unknown argument '$arg'" >&2
            usage
            ;;
        *) records+=("$arg") ;;
    esac
done
[ ${#protocols[@]} -gt 0 ] || protocols=("${ALL_PROTOCOLS[@]}")
[ ${#records[@]} -gt 0 ] || records=("${ALL_RECORDS[@]}")
[ ${#servers[@]} -gt 0 ] || servers=("${ALL_SERVERS[@]}")

TARGET=$ROOT/target
TMP=$TARGET/bench-tmp
OUT=$TARGET/bench-out
RESULTS_JSONL=$TARGET/bench-results.jsonl
RESULTS_MD=$TARGET/bench-results.md
mkdir -p "$TMP"
: >"$RESULTS_JSONL"
NOTES=()

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

wants() { # wants NAME...: is any of the servers selected?
    local s n
    for s in "${servers[@]}"; do for n in "$@"; do [ "$s" = "$n" ] && return 0; done; done
    return 1
}

drop_server() { # drop_server NAME: remove it from the selection
    local s kept=()
    for s in "${servers[@]}"; do [ "$s" = "$1" ] || kept+=("$s"); done
    servers=("${kept[@]}")
}

# ---------------------------------------------------------------- processes
SERVER_PID=
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}
cleanup() {
    stop_server
    stop_sink
    rm -rf "$OUT"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# ---------------------------------------------------------------- pinning
PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER=(taskset -c "$SERVER_CPU")
    PIN_CLIENT=(taskset -c "$CLIENT_CPU")
else
    NOTES+=("not pinned: needs taskset and 2 cores")
fi

# ---------------------------------------------------------------- build
if [ -z "${SKIP_BUILD:-}" ]; then
    log "cargo build --release (loadgen)"
    cargo build --release -p ccpipe-bench --bin loadgen --bin sink
    if wants ccpipe-nop ccpipe-file ccpipe-file-devnull ccpipe-datadog ccpipe-datadog-gzip; then
        log "cargo build --release (ccpipe)"
        if ! cargo build --release -p ccpipe --bin ccpipe; then
            echo "run.sh: ccpipe does not build; measuring rotel only" >&2
            NOTES+=("ccpipe did not build: no ccpipe rows")
            drop_server ccpipe-nop
            drop_server ccpipe-file
            drop_server ccpipe-file-devnull
            drop_server ccpipe-datadog
            drop_server ccpipe-datadog-gzip
        fi
    fi
fi
LOADGEN=$TARGET/release/loadgen
SINK=$TARGET/release/sink
CCPIPE=${CCPIPE_BIN:-$TARGET/release/ccpipe}
[ -x "$LOADGEN" ] || { echo "run.sh: $LOADGEN missing" >&2; exit 1; }
if wants ccpipe-nop ccpipe-file ccpipe-file-devnull ccpipe-datadog ccpipe-datadog-gzip && [ ! -x "$CCPIPE" ]; then
    echo "run.sh: $CCPIPE missing; measuring rotel only" >&2
    NOTES+=("no ccpipe binary: no ccpipe rows")
    drop_server ccpipe-nop
    drop_server ccpipe-file
    drop_server ccpipe-file-devnull
    drop_server ccpipe-datadog
    drop_server ccpipe-datadog-gzip
fi
# A binary linked with a stale ordering file has its code spread out again
# (docs/layout.md): its peak RSS reads several MB higher. Say so in the table.
if [ -x "$CCPIPE" ] && command -v python3 >/dev/null &&
    ! python3 scripts/symbol-order.py check "$CCPIPE" >&2; then
    NOTES+=("link/symbol-order.txt does not match $CCPIPE (scripts/symbol-order.py check): its code is not placed by use, so RSS reads higher")
fi
if wants rotel-otlp ccpipe-datadog ccpipe-datadog-gzip && [ ! -x "$SINK" ]; then
    echo "run.sh: $SINK missing (cargo build --release -p ccpipe-bench --bin sink)" >&2
    exit 1
fi

# ---------------------------------------------------------------- rotel
VENV=$TARGET/bench-venv
find_rotel() {
    # No venv yet is not an error (pipefail would make it one).
    { find "$VENV" -type f -name rotel-agent -path '*site-packages/rotel/*' 2>/dev/null || true; } | head -n 1
}
ROTEL=
if wants rotel rotel-otlp; then
    ROTEL=$(find_rotel)
    if [ -z "$ROTEL" ]; then
        log "pip install rotel (into $VENV)"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check rotel
        ROTEL=$(find_rotel)
    fi
    [ -n "$ROTEL" ] || { echo "run.sh: rotel-agent not found under $VENV" >&2; exit 1; }
    ROTEL_VERSION=$("$ROTEL" --version 2>/dev/null || echo "rotel ?")
fi

# ---------------------------------------------------------------- ccpipe configs
NOP_CONFIG=$ROOT/bench/ccpipe-nop.yaml
NOP_NAME=ccpipe-nop
if wants ccpipe-nop; then
    if ! msg=$(BENCH_OUT_DIR=$OUT "$CCPIPE" validate --config "$NOP_CONFIG" 2>&1); then
        if grep -q nop <<<"$msg"; then
            # No `nop` exporter in this build: the closest discard is debug/basic
            # (one short line per batch, to a log file).
            NOP_CONFIG=$TMP/ccpipe-debug.yaml
            sed -e 's/^  nop: {}$/  debug: { verbosity: basic }/' \
                -e 's/exporters: \[nop\]/exporters: [debug]/' \
                "$ROOT/bench/ccpipe-nop.yaml" >"$NOP_CONFIG"
            NOP_NAME=ccpipe-debug
            NOTES+=("no nop exporter in this build: ccpipe-debug = batch -> debug (basic) to a file")
        else
            echo "run.sh: bench/ccpipe-nop.yaml does not validate: $msg" >&2
            drop_server ccpipe-nop
        fi
    fi
fi

DATADOG_CONFIG=$ROOT/bench/ccpipe-datadog.yaml
if wants ccpipe-datadog ccpipe-datadog-gzip; then
    # The row measures the shipped chain: its processors must be the shipped ones.
    if ! diff <(sed -n '/^processors:/,/^exporters:/p' "$ROOT/configs/datadog.yaml") \
        <(sed -n '/^processors:/,/^exporters:/p' "$DATADOG_CONFIG") >/dev/null; then
        NOTES+=("bench/ccpipe-datadog.yaml's processors differ from configs/datadog.yaml's: copy them again")
    fi
fi

# ---------------------------------------------------------------- one cell
free_ports() { # two distinct free ports on 127.0.0.1
    python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])'
}

wait_port() { # wait_port PORT: until it accepts (10 s at most) while the server lives
    local _
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# The forwarding rows' destination, on the load generator's core.
SINK_PID=
start_sink() { # sets SINK_GRPC and SINK_HTTP: the ports the sink chose (port 0: no race)
    local _
    rm -f "$TMP/sink.ports"
    (exec "${PIN_CLIENT[@]}" "$SINK" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
        --ports-file "$TMP/sink.ports" >"$TMP/sink.out" 2>"$TMP/sink.log") &
    SINK_PID=$!
    for _ in $(seq 100); do
        [ -s "$TMP/sink.ports" ] && break
        kill -0 "$SINK_PID" 2>/dev/null || break
        sleep 0.1
    done
    read -r SINK_GRPC SINK_HTTP <"$TMP/sink.ports" || {
        echo "run.sh: the sink did not start; its log:" >&2
        tail -n 5 "$TMP/sink.log" >&2
        exit 1
    }
}
stop_sink() { # sets SINK_COUNTS: what the sink received (one JSON object), or {}
    SINK_COUNTS='{}'
    [ -n "$SINK_PID" ] || return 0
    kill -TERM "$SINK_PID" 2>/dev/null || true
    # Not in a $(...) subshell: only this shell can wait for its child.
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=
    local counts
    counts=$(tail -n 1 "$TMP/sink.out" 2>/dev/null || true)
    [ -n "$counts" ] && SINK_COUNTS=$counts
    return 0
}
forwards() { case $1 in rotel-otlp | ccpipe-datadog*) return 0 ;; *) return 1 ;; esac; }

start_server() { # start_server NAME GRPC_PORT HTTP_PORT SINK_GRPC_PORT SINK_HTTP_PORT
    local name=$1 grpc=$2 http=$3 logf=$TMP/$1.log
    case $name in
        rotel)
            (exec "${PIN_SERVER[@]}" "$ROTEL" start \
                --otlp-grpc-endpoint "127.0.0.1:$grpc" \
                --otlp-http-endpoint "127.0.0.1:$http" \
                --exporter blackhole \
                --pid-file "$TMP/rotel.pid" --log-file "$TMP/rotel-agent.log" \
                >"$logf" 2>&1) &
            ;;
        rotel-otlp)
            # Forwards over OTLP/gRPC, uncompressed, to the sink.
            (exec "${PIN_SERVER[@]}" "$ROTEL" start \
                --otlp-grpc-endpoint "127.0.0.1:$grpc" \
                --otlp-http-endpoint "127.0.0.1:$http" \
                --exporter otlp --otlp-exporter-protocol grpc \
                --otlp-exporter-endpoint "http://127.0.0.1:$4" \
                --otlp-exporter-compression none \
                --pid-file "$TMP/rotel.pid" --log-file "$TMP/rotel-agent.log" \
                >"$logf" 2>&1) &
            ;;
        ccpipe-datadog | ccpipe-datadog-gzip)
            local compression=none
            [ "$name" = ccpipe-datadog-gzip ] && compression=gzip
            (
                export BENCH_GRPC_ENDPOINT="127.0.0.1:$grpc" BENCH_HTTP_ENDPOINT="127.0.0.1:$http"
                export BENCH_SINK_HTTP_ENDPOINT="127.0.0.1:$5" BENCH_COMPRESSION=$compression
                exec "${PIN_SERVER[@]}" "$CCPIPE" --config "$DATADOG_CONFIG" >"$logf" 2>&1
            ) &
            ;;
        ccpipe-nop | ccpipe-file | ccpipe-file-devnull)
            local cfg=$NOP_CONFIG
            [ "$name" = ccpipe-file ] && cfg=$ROOT/bench/ccpipe-file.yaml
            [ "$name" = ccpipe-file-devnull ] && cfg=$ROOT/bench/ccpipe-file-devnull.yaml
            rm -rf "$OUT"
            (
                export BENCH_GRPC_ENDPOINT="127.0.0.1:$grpc" BENCH_HTTP_ENDPOINT="127.0.0.1:$http"
                export BENCH_OUT_DIR="$OUT"
                exec "${PIN_SERVER[@]}" "$CCPIPE" --config "$cfg" >"$logf" 2>&1
            ) &
            ;;
    esac
    # The subshell execs (taskset execs too): $! is the server itself.
    SERVER_PID=$!
}

listener_pid() { # listener_pid PORT: the pid listening on it, if ss can tell
    command -v ss >/dev/null || return 0
    ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

run_cell() { # run_cell SERVER PROTOCOL RECORDS
    local server=$1 protocol=$2 n=$3 label=$1 grpc http port out
    [ "$server" = ccpipe-nop ] && label=$NOP_NAME
    SINK_GRPC= SINK_HTTP=
    forwards "$server" && start_sink
    read -r grpc http < <(free_ports)
    port=$http
    [ "$protocol" = grpc ] && port=$grpc
    start_server "$server" "$grpc" "$http" "$SINK_GRPC" "$SINK_HTTP"
    if ! wait_port "$port"; then
        echo "run.sh: $label did not listen on $port; its log:" >&2
        tail -n 20 "$TMP/$server.log" >&2 || true
        stop_server
        stop_sink
        printf '{"label":"%s","protocol":"%s","records_per_request":%s,"error":"server did not start"}\n' \
            "$label" "$protocol" "$n" >>"$RESULTS_JSONL"
        return 0
    fi
    local owner
    owner=$(listener_pid "$port")
    if [ -n "$owner" ] && [ "$owner" != "$SERVER_PID" ]; then
        echo "run.sh: port $port belongs to pid $owner, not $SERVER_PID; stopping" >&2
        stop_server
        exit 1
    fi
    if out=$("${PIN_CLIENT[@]}" "$LOADGEN" --protocol "$protocol" --records "$n" \
        --addr "127.0.0.1:$port" --connections "$CONNECTIONS" \
        --duration "$DURATION" --warmup "$WARMUP" \
        --server-pid "$SERVER_PID" --label "$label"); then
        :
    else
        out=$(printf '{"label":"%s","protocol":"%s","records_per_request":%s,"error":"loadgen failed"}' \
            "$label" "$protocol" "$n")
    fi
    stop_server
    if forwards "$server"; then
        # What reached the destination (after the server drained on SIGTERM).
        stop_sink
        out=$(python3 -c 'import json, sys
row = json.loads(sys.argv[1]); row["sink"] = json.loads(sys.argv[2]); print(json.dumps(row))' \
            "$out" "$SINK_COUNTS")
    fi
    echo "$out" >>"$RESULTS_JSONL"
    rm -rf "$OUT"
}

# ---------------------------------------------------------------- the matrix
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "servers: ${servers[*]}; protocols: ${protocols[*]}; records: ${records[*]};" \
    "$DURATION measured after $WARMUP warm-up, $CONNECTIONS connections"
for protocol in "${protocols[@]}"; do
    for n in "${records[@]}"; do
        for server in "${servers[@]}"; do
            run_cell "$server" "$protocol" "$n"
        done
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the table
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]; then GIT_REV="$GIT_REV+dirty"; fi
NOTES_TEXT=$(printf '%s\n' "${NOTES[@]+"${NOTES[@]}"}")

RESULTS_JSONL=$RESULTS_JSONL DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS \
    CPU_MODEL=$CPU_MODEL NPROC=$(nproc) GIT_REV=$GIT_REV ROTEL_VERSION=${ROTEL_VERSION:-} \
    LOAD_BEFORE=$LOAD_BEFORE LOAD_AFTER=$LOAD_AFTER NOTES_TEXT=$NOTES_TEXT \
    PINNED=${PIN_SERVER[*]:+yes} SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU \
    python3 - >"$RESULTS_MD" <<'PY'
import json, os, time

rows = [json.loads(l) for l in open(os.environ["RESULTS_JSONL"]) if l.strip()]
# Each row is compared with rotel doing the same job: forwarding rows with rotel
# forwarding to the same sink, the others with rotel's blackhole.
BASELINE = {"rotel-otlp": None, "ccpipe-datadog": "rotel-otlp",
            "ccpipe-datadog-gzip": "rotel-otlp", "rotel": None}
rotel = {(r["label"], r["protocol"], r["records_per_request"]): r
         for r in rows if r.get("label", "").startswith("rotel") and "error" not in r}

def num(v, fmt):
    return "–" if v is None else format(v, fmt)

def ratio(a, b):
    return "–" if not a or not b else f"{a / b:.2f}"

e = os.environ
pin = (f"server on CPU {e['SERVER_CPU']}, loadgen on CPU {e['CLIENT_CPU']} (taskset)"
       if e.get("PINNED") else "not pinned")
print("# ccpipe vs rotel: Claude Code OTLP logs\n")
print(f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, ccpipe {e['GIT_REV']}, "
      f"{e.get('ROTEL_VERSION') or 'rotel not run'}")
print(f"- {e['NPROC']} × {e['CPU_MODEL']}; {pin}; load average before {e['LOAD_BEFORE']}, "
      f"after {e['LOAD_AFTER']}")
print(f"- {e['DURATION']} measured after {e['WARMUP']} warm-up, {e['CONNECTIONS']} keep-alive "
      "connections sending back to back; a fresh server per row")
for n in filter(None, e.get("NOTES_TEXT", "").split("\n")):
    print(f"- note: {n}")
print()
print("| server | protocol | records/req | records/s | CPU µs/record | server cores | p99 ms "
      "| peak RSS MB | failed | sink MB | records/s ÷ rotel | CPU/record ÷ rotel |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for r in rows:
    key = (r["protocol"], r["records_per_request"])
    if "error" in r:
        print(f"| {r['label']} | {key[0]} | {key[1]} | {r['error']} | | | | | | | | |")
        continue
    base_label = BASELINE.get(r["label"], "rotel")
    base = rotel.get((base_label, *key)) if base_label else None
    rel = base is not None
    sink = r.get("sink")
    cores = r.get("server_cpu_cores")
    idle = cores is not None and cores < 0.8
    print("| {} | {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} | {} |".format(
        r["label"], key[0], key[1],
        num(r["records_per_s"], ",.0f"),
        num(r.get("cpu_us_per_record"), ".2f"),
        num(cores, ".2f"), " *" if idle else "",
        num(r["latency_ms"]["p99"], ".2f"),
        num(r.get("server_peak_rss_mb"), ".1f"),
        r["requests_failed"],
        num(sink["body_bytes"] / 2**20, ",.1f") if sink and "body_bytes" in sink else "",
        ratio(r["records_per_s"], base["records_per_s"]) if rel else "",
        ratio(r.get("cpu_us_per_record"), base.get("cpu_us_per_record")) if rel else "",
    ))
if any((r.get("server_cpu_cores") or 1) < 0.8 for r in rows if "error" not in r):
    print("\n\\* the server used under 0.8 of its core: it was not CPU-bound in that row "
          "(waiting on the network or on its own timers, or its core was shared with "
          "other work), so records/s understates what it can do; CPU µs/record still holds.")
print("\nratios: ccpipe-datadog rows against rotel-otlp (rotel forwarding over OTLP/gRPC, "
      "uncompressed, to the same sink), the others against rotel's blackhole. sink MB: "
      "request bodies the sink received, the whole run (warm-up and drain included).")
busy = [r for r in rows if r.get("client_cpu_cores", 0) > 0.9]
if busy:
    print("\nWarning: the load generator used over 90% of its core in "
          f"{len(busy)} row(s); those servers may not have been saturated.")
PY

echo >&2
cat "$RESULTS_MD"
echo >&2
echo "written: target/bench-results.md, target/bench-results.jsonl" >&2
