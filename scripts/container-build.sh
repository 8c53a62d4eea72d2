#!/bin/sh
# Builds the binary the container image ships: the Dockerfile runs this, and
# CI runs it too (scripts/container-check.sh), so what CI tests is what the
# image contains. Usage: scripts/container-build.sh OUT_DIR
set -eu
out="${1:?usage: scripts/container-build.sh OUT_DIR}"
cd "$(dirname "$0")/.."
# The `container` profile is `release`, stripped and without debug info.
cargo build --locked --profile container --bin ccpipe
mkdir -p "$out"
cp "${CARGO_TARGET_DIR:-target}/container/ccpipe" "$out/ccpipe"
