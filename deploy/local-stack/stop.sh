#!/usr/bin/env sh
# Stops deploy/local-stack. --wipe also deletes its volumes (Prometheus,
# Loki and Grafana data); without it the data is kept for the next start.
set -eu
cd "$(dirname "$0")"
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
elif podman compose version >/dev/null 2>&1; then
  compose="podman compose"
else
  echo "local-stack: needs docker compose or podman compose" >&2
  exit 1
fi
case "${1:-}" in
  --wipe) $compose -f compose.yaml down --volumes ;;
  "") $compose -f compose.yaml down ;;
  *) echo "usage: $0 [--wipe]" >&2; exit 2 ;;
esac
