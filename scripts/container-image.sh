#!/bin/sh
# The image build CI uses on a machine that cannot pull a base image: the
# root filesystem is built on the host by scripts/container-build.sh (the
# script the Dockerfile's build stage runs), and the Dockerfile's final
# stage (FROM scratch onwards) is built from it with podman, its COPY
# --from=build reading the host directory instead. Same files, same
# metadata (user, health check, entrypoint) as `docker build .`.
# Usage: scripts/container-image.sh [TAG]   (default localhost/ccpipe:test)
# builds two images: TAG, the default one (no Kafka), and TAG-kafka, the same
# with the kafka receiver and exporter (docs/deploy.md).
set -eu
tag="${1:-localhost/ccpipe:test}"
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/scripts/podman-containers.conf}"

# image TAG CONTEXT [FEATURES]
image() {
  context="$2"
  scripts/container-build.sh "$context" "${3:-}"
  # The final stage, with the build stage's output path mapped to the context.
  sed -n '/^FROM scratch/,$p' Dockerfile |
    sed 's|^COPY --from=build /out/rootfs/ /$|COPY rootfs/ /|' >"$context/Containerfile"
  grep -q '^COPY rootfs/ /$' "$context/Containerfile" || {
    echo "container-image: the Dockerfile's final stage no longer copies /out/rootfs/" >&2
    exit 1
  }
  # Docker format: OCI images drop HEALTHCHECK.
  podman build --format docker --tag "$1" --file "$context/Containerfile" "$context"
}

target="${CARGO_TARGET_DIR:-target}"
image "$tag" "$target/container-image"
image "$tag-kafka" "$target/container-image-kafka" kafka
