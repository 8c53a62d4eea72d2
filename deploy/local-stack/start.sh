#!/usr/bin/env sh
# Starts deploy/local-stack (ccpipe, Prometheus, Loki, Grafana) in the
# background with docker compose, else podman compose, and says where to look.
set -eu
cd "$(dirname "$0")"
. ./compose-command.sh
$compose -f compose.yaml up -d --build
cat <<MSG
local-stack is up:
  Grafana     http://127.0.0.1:3000  (dashboard "Claude Code")
  Prometheus  http://127.0.0.1:9090
  Loki        http://127.0.0.1:3100
Point Claude Code at ccpipe:
  ccpipe claude-settings --config configs/prometheus-loki.yaml --write ~/.claude/settings.json
or export CLAUDE_CODE_ENABLE_TELEMETRY=1 OTEL_METRICS_EXPORTER=otlp OTEL_LOGS_EXPORTER=otlp \\
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
Stop with deploy/local-stack/stop.sh (--wipe also deletes the stored data).
MSG
