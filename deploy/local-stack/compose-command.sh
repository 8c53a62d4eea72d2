# Sourced by start.sh and stop.sh: sets $compose to `docker compose`, else
# `podman compose`, or exits saying neither is there.
if docker compose version >/dev/null 2>&1; then
  compose="docker compose"
elif podman compose version >/dev/null 2>&1; then
  compose="podman compose"
else
  echo "local-stack: needs docker compose or podman compose" >&2
  exit 1
fi
