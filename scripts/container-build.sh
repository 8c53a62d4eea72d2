#!/bin/sh
# Builds the container image's root filesystem: the Dockerfile runs this in
# its build stage, and CI runs it on the host (scripts/container-image.sh), so
# what CI tests is what the image contains.
# Usage: container-build.sh OUT_DIR [FEATURES]
# FEATURES: empty (the default image: no Kafka, under 20 MB) or `kafka` (the
# `-kafka` image: the kafka receiver and exporter, librdkafka and OpenSSL
# linked in, ~9.5 MB more). See docs/deploy.md.
# OUT_DIR/rootfs then holds, and the image is nothing else:
#   usr/local/bin/ccpipe             static (glibc, crt-static): no libc needed
#   etc/ccpipe/config.yaml           configs/container.yaml
#   etc/ssl/certs/ca-certificates.crt  Debian's CA bundle, for tls.ca_file
#   etc/passwd, etc/group            the non-root user nonroot (65532)
#   tmp/                             for --pid-file when /tmp is not mounted
set -eu
out="${1:?usage: scripts/container-build.sh OUT_DIR [FEATURES]}"
features="${2:-}"
cd "$(dirname "$0")/.."
# The host's own triple (x86_64 or aarch64 Linux, glibc).
target="$(rustc -vV | sed -n 's/^host: //p')"
# --target keeps the static flag off build scripts and proc macros, and the
# artifacts apart from the host build's. The `container` profile is
# `release`, stripped and without debug info.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --locked --profile container --target "$target" --bin ccpipe \
  --no-default-features ${features:+--features "$features"}
bin="${CARGO_TARGET_DIR:-target}/$target/container/ccpipe"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { echo "container-build: $ca is missing; install ca-certificates" >&2; exit 1; }

rootfs="$out/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ccpipe" "$rootfs/etc/ssl/certs" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$bin" "$rootfs/usr/local/bin/ccpipe"
cp configs/container.yaml "$rootfs/etc/ccpipe/config.yaml"
cp "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'nonroot:x:65532:\n' >"$rootfs/etc/group"
chmod -R u=rwX,go=rX "$rootfs/usr" "$rootfs/etc"
