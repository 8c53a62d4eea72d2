#!/bin/sh
# CI's stand-in for `docker build` + `docker run`: builds the binary exactly as
# the Dockerfile does (scripts/container-build.sh) and runs tests/container.rs
# against it: the Dockerfile's CMD with configs/container.yaml starts, and its
# HEALTHCHECK command reports healthy and ready. Needs no Docker engine.
set -eu
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/container-out"
scripts/container-build.sh "$out"
ls -l "$out/ccpipe"
CCPIPE_CONTAINER_BIN="$(cd "$out" && pwd)/ccpipe" cargo test --locked -p ccpipe --test container
