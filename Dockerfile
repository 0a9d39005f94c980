# The attio-auth backend image (default target) and the generator site's image
# (`--target generator`). Both build stages run scripts/build-release.sh, which CI runs too
# (.ci/run), so the base image pulls are the only steps CI does not cover.
# See docs/deploy.md: settings, volumes, health check, upgrades.
#
#   docker build -t attio-auth .
#   docker build -t attio-auth-generator --target generator .
#   docker compose up           (compose.yaml: backend, PostgreSQL, generator site)

# The workspace's rust-version (Cargo.toml); build and runtime share Debian bookworm, so
# the binary's glibc is the runtime's.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/build-release.sh backend /stage

FROM rust:${RUST_VERSION}-slim-bookworm AS build-generator
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    rustup target add wasm32-unknown-unknown && \
    scripts/build-release.sh generator /stage

# The generator site: the Leptos server and its static files (WASM included).
FROM debian:bookworm-slim AS generator
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin attio
COPY --from=build-generator /stage/bin/attio-auth-generator /usr/local/bin/attio-auth-generator
COPY --from=build-generator /stage/site /srv/site
ENV GENERATOR_ADDR=0.0.0.0:3000 \
    GENERATOR_SITE_ROOT=/srv/site
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["attio-auth-generator"]

# The backend (last stage: the default target). No shell tools are needed at run time:
# TLS roots are compiled in (rustls, webpki roots), migrations too, and the health check
# is the binary itself.
FROM debian:bookworm-slim AS backend
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin attio && \
    mkdir -p /data && chown attio:attio /data && chmod 0700 /data
COPY --from=build /stage/bin/attio-auth /usr/local/bin/attio-auth
# Off loopback `serve` refuses to start without ENCRYPTION_KEY and PUBLIC_URL (docs/deploy.md).
ENV BIND_ADDR=0.0.0.0:8080 \
    DATA_DIR=/data \
    LOG_FORMAT=json
# SQLite and a generated key file live here: mount a volume, or use PostgreSQL.
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["attio-auth", "healthcheck"]
ENTRYPOINT ["attio-auth", "serve"]
