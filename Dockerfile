# syntax=docker/dockerfile:1
# The ccpipe image: a stripped release binary on distroless (glibc, no shell),
# running as a non-root user.
#   docker build -t ccpipe .
#   docker run --rm -p 4317:4317 -p 4318:4318 -e DD_AGENT_HOST=datadog-agent ccpipe
# The binary is built by scripts/container-build.sh, which CI runs as well
# (scripts/container-check.sh) and then starts with configs/container.yaml.

# Debian 12 on both sides: the binary needs the runtime's glibc or older.
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/container-build.sh /out

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ccpipe /usr/local/bin/ccpipe
COPY configs/container.yaml /etc/ccpipe/config.yaml
# distroless's nonroot user (65532:65532).
USER nonroot:nonroot
# OTLP gRPC, OTLP HTTP, ccpipe's own metrics, health.
EXPOSE 4317 4318 8888 13133
# `ccpipe healthcheck` asks the health endpoint itself: no curl in the image.
# It reads service.health.address from the same config as the service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["ccpipe", "healthcheck", "--config", "/etc/ccpipe/config.yaml"]
ENTRYPOINT ["ccpipe"]
CMD ["--config", "/etc/ccpipe/config.yaml"]
