#!/usr/bin/env bash
# Records/s through Kafka: load generator → edge ccpipe (configs/edge-kafka.yaml,
# durable queue, key session.id, zstd) → Tansu broker → 1 and then 2 gateway
# ccpipes in one consumer group (bench/ccpipe-kafka-gateway.yaml, discarding).
#
#   bench/kafka.sh                  # 1 and 2 gateways, 4 partitions, 20s of load each
#   GATEWAYS="1 2 3" bench/kafka.sh
#
# Env: DURATION (20s), RECORDS (100 per request), CONNECTIONS (4), PARTITIONS (4),
#      SKIP_BUILD=1 (use the release binaries already built), CCPIPE_BIN=PATH, LOADGEN=PATH,
#      TANSU=PATH (default target/tansu/bin/tansu, as .ci/run builds it).
# For each gateway count: a fresh broker, topics and group; the load runs for
# DURATION, then the gateways drain. Prints, per row, what the edge accepted
# per second under load and what the gateways received per second from the
# first request until they caught up (end to end).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${DURATION:-20s}
RECORDS=${RECORDS:-100}
CONNECTIONS=${CONNECTIONS:-4}
PARTITIONS=${PARTITIONS:-4}
GATEWAYS=${GATEWAYS:-1 2}
TANSU=${TANSU:-$ROOT/target/tansu/bin/tansu}
TMP=$ROOT/target/bench-kafka
[ -x "$TANSU" ] || { echo "kafka.sh: no broker at $TANSU; run .ci/run (it builds it)" >&2; exit 1; }
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -p ccpipe-bench --bin loadgen
    cargo build --release -p ccpipe --bin ccpipe
fi
CCPIPE=${CCPIPE_BIN:-$ROOT/target/release/ccpipe}
LOADGEN=${LOADGEN:-$ROOT/target/release/loadgen}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The sum of a counter over the gateways' metrics endpoints.
accepted() {
    local total=0 v
    for port in "$@"; do
        v=$(curl -s "http://127.0.0.1:$port/metrics" |
            awk '/^ccpipe_receiver_accepted_log_records_total.*transport="kafka"/ {s+=$NF} END {print s+0}')
        total=$(python3 -c "print($total + $v)")
    done
    echo "$total"
}

mkdir -p "$(dirname "$TMP")"
printf '| gateways | partitions | edge accepted (records/s) | end to end (records/s) | records received of sent |\n|---|---|---|---|---|\n' >"$TMP.md"
for n in $GATEWAYS; do
    rm -rf "$TMP" && mkdir -p "$TMP"
    port=$(free_port)
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine memory://tansu/ >"$TMP/broker.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    for t in otlp_logs otlp_metrics otlp_spans; do
        "$TANSU" topic create "$t" --partitions "$PARTITIONS" --broker "tcp://127.0.0.1:$port" >/dev/null
    done
    metrics_ports=()
    for g in $(seq "$n"); do
        mp=$(free_port)
        metrics_ports+=("$mp")
        KAFKA_BROKERS=127.0.0.1:$port KAFKA_GROUP=bench CCPIPE_METRICS=127.0.0.1:$mp \
            "$CCPIPE" --config bench/ccpipe-kafka-gateway.yaml 2>"$TMP/gateway-$g.log" &
        pids+=($!)
    done
    # Let the group settle (every gateway holds partitions).
    sleep 8
    http=$(free_port)
    KAFKA_BROKERS=127.0.0.1:$port CCPIPE_QUEUE_DIR=$TMP/edge CCPIPE_HTTP_ENDPOINT=127.0.0.1:$http \
        CCPIPE_GRPC_ENDPOINT=127.0.0.1:0 "$CCPIPE" --config configs/edge-kafka.yaml 2>"$TMP/edge.log" &
    edge=$!
    pids+=("$edge")
    sleep 2
    start=$(date +%s.%N)
    out=$("$LOADGEN" --protocol http-protobuf --records "$RECORDS" --addr "127.0.0.1:$http" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup 0s --server-pid "$edge" --label "edge")
    edge_rate=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["records_per_s"]))' "$out")
    sent=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["requests_ok"] * r["records_per_request"])' "$out")
    # Wait until the gateways stop growing for 3s (drained), at most 5 minutes.
    last=-1 still=0
    for _ in $(seq 300); do
        now=$(accepted "${metrics_ports[@]}")
        if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; last=$now; end=$(date +%s.%N); fi
        [ "$still" -ge 3 ] && break
        sleep 1
    done
    e2e=$(python3 -c "print(round($last / ($end - $start)))")
    printf '| %s | %s | %s | %s | %s of %s |\n' "$n" "$PARTITIONS" "$edge_rate" "$e2e" "$last" "$sent" >>"$TMP.md"
    cleanup
    pids=()
done
echo
echo "Kafka hop, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: noisy)"
cat "$TMP.md"
