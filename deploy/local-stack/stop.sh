#!/usr/bin/env sh
# Stops deploy/local-stack. --wipe also deletes its volumes (Prometheus,
# Loki and Grafana data); without it the data is kept for the next start.
set -eu
cd "$(dirname "$0")"
. ./compose-command.sh
case "${1:-}" in
  --wipe) $compose -f compose.yaml down --volumes ;;
  "") $compose -f compose.yaml down ;;
  *) echo "usage: $0 [--wipe]" >&2; exit 2 ;;
esac
