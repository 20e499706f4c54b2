# Recoscope: one image, one binary, every role.
#
#   docker run IMAGE            all roles (ingest API, dashboard, workers); the default
#   docker run IMAGE serve      ingest API and dashboard      (port 3000)
#   docker run IMAGE worker     stream workers, health only   (port 3001)
#   docker run IMAGE migrate    apply ClickHouse migrations and exit
#   docker run IMAGE keys …     the CLI (tenants, keys, catalog, simulate)
#
# Configuration comes from the environment only (README "Configuration", docs/DEPLOY.md).
# The image holds no state: events live in Kafka and ClickHouse, real-time state in Redis,
# tenants, keys, catalogs and recent behaviour in MongoDB (MONGODB_URI). Without MONGODB_URI
# the stores are SQLite files in /var/lib/recoscope: mount a volume there, or use it only
# to try the image.
#
# Targets:
#   runtime (the default): builds the binary and the site in the builder stage, with tools
#     from the package registries only (crates.io, npm, Debian).
#   offline: packs a binary and site built beside it (dist/recoscope, dist/site), for hosts
#     that reach no container registry; `scripts/image` builds it on a local Debian base.
# Both give the same runtime layout. Base images are build arguments.

ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY . .
ENV CARGO_TARGET_DIR=/target CARGO_INCREMENTAL=0
# The site (hydrate bundle with wasm-opt, styles, ECharts, tracker; precompressed) and the
# server, both release builds, the way scripts/run builds them.
RUN bash -c 'source scripts/lib.sh && site_bundle /out/site release' \
 && cargo build --release --locked -p recoscope-server --bin recoscope \
 && cp /target/release/recoscope /out/recoscope

FROM ${RUNTIME_IMAGE} AS runtime-base
# The binary needs glibc, zlib and libgcc only, which every Debian base has.
RUN useradd --uid 10001 --user-group --home-dir /var/lib/recoscope --create-home \
      --shell /usr/sbin/nologin recoscope
ENV LEPTOS_SITE_ROOT=/app/site \
    RECOSCOPE_LISTEN=0.0.0.0:3000 \
    WORKER_LISTEN=0.0.0.0:3001 \
    RECOSCOPE_STORE_PATH=/var/lib/recoscope/config.sqlite3 \
    RECOSCOPE_RECENT_PATH=/var/lib/recoscope/recent.sqlite3 \
    RECOSCOPE_WRITE_KEYS= \
    DEMO_SHOP_WRITE_KEY=
WORKDIR /var/lib/recoscope
EXPOSE 3000 3001
# SIGTERM drains: the API finishes requests in flight, workers deliver and commit their
# batches and release their partitions (give it 30 s: docker stop -t 30).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/app/recoscope", "probe"]
ENTRYPOINT ["/app/recoscope"]
CMD ["all"]

FROM runtime-base AS offline
COPY dist/recoscope /app/recoscope
COPY dist/site /app/site
USER recoscope

FROM runtime-base AS runtime
COPY --from=builder /out/recoscope /app/recoscope
COPY --from=builder /out/site /app/site
USER recoscope
