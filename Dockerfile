# syntax=docker/dockerfile:1
# The ccpipe image: one static binary on an empty base (FROM scratch), with a
# CA bundle and a non-root user; about 19 MB, no shell, no libc. Without
# Kafka by default; FEATURES=kafka adds the kafka receiver and exporter
# (librdkafka and OpenSSL linked in: ~9.5 MB more), tagged `-kafka`:
#   docker build -t ccpipe .
#   docker build --build-arg FEATURES=kafka -t ccpipe:kafka .
#   docker run --rm -p 4317:4317 -p 4318:4318 -e DD_AGENT_HOST=datadog-agent ccpipe
# Two ways to build the same image (docs/deploy.md):
# - here, with Docker or podman and a registry to pull the Rust image from;
# - scripts/container-image.sh, which CI uses where nothing can be pulled: it
#   runs scripts/container-build.sh on the host and builds the stage below
#   FROM scratch with podman.

# The build stage: Debian 12, as the CA bundle's source too.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG FEATURES=""
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/container-build.sh /out "$FEATURES"

FROM scratch
COPY --from=build /out/rootfs/ /
# The user scripts/container-build.sh writes into /etc/passwd.
USER 65532:65532
# OTLP gRPC, OTLP HTTP, ccpipe's own metrics, health.
EXPOSE 4317 4318 8888 13133
# `ccpipe healthcheck` asks the health endpoint itself: no curl in the image.
# It reads service.health.address from the same config as the service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["ccpipe", "healthcheck", "--config", "/etc/ccpipe/config.yaml"]
ENV PATH=/usr/local/bin
ENTRYPOINT ["ccpipe"]
CMD ["--config", "/etc/ccpipe/config.yaml"]
