#!/usr/bin/env bash
# The release build of the container images, run by the Dockerfile's build stages and by CI
# (.ci/run), so that the only untested step of an image build is the base image pull.
#
#   scripts/build-release.sh [backend|generator] [STAGE_DIR]
#
# backend (default): `cargo build --release --locked -p attio-auth-backend --bin attio-auth`,
#   staged as STAGE_DIR/bin/attio-auth (default STAGE_DIR: target/release-stage). The
#   migrations are compiled into the binary (app-backend/src/db.rs), so the binary is all the
#   image needs. Then the staged binary is run: --version, `serve --help`, and a health
#   check that must fail (nothing listens), so a binary that cannot start fails here.
# generator: the site's WASM (the xtask, needs the wasm32 target) and
#   `cargo build --release --locked -p attio-auth-generator`, staged as
#   STAGE_DIR/bin/attio-auth-generator and STAGE_DIR/site/ (default STAGE_DIR:
#   target/release-stage-generator). CI does not run this one (the tests build the same
#   WASM and the same server in debug); it keeps CI to one release build.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-backend}
target=${CARGO_TARGET_DIR:-target}
start=$(date +%s)

case "$what" in
  backend)
    stage=${2:-$target/release-stage}
    cargo build --release --locked -p attio-auth-backend --bin attio-auth
    rm -rf "$stage" && mkdir -p "$stage/bin"
    cp "$target/release/attio-auth" "$stage/bin/attio-auth"
    "$stage/bin/attio-auth" --version
    "$stage/bin/attio-auth" serve --help >/dev/null
    if "$stage/bin/attio-auth" healthcheck --addr 127.0.0.1:9 --timeout-secs 1 2>/dev/null; then
      echo "build-release.sh: the health check passed with nothing listening" >&2
      exit 1
    fi
    ;;
  generator)
    stage=${2:-$target/release-stage-generator}
    cargo run --locked -p xtask -- site
    cargo build --release --locked -p attio-auth-generator --bin attio-auth-generator
    rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/site"
    cp "$target/release/attio-auth-generator" "$stage/bin/attio-auth-generator"
    cp -R generator-site/public/. "$stage/site/"
    test -s "$stage/site/pkg/attio_auth_generator_bg.wasm"
    ;;
  *)
    echo "usage: scripts/build-release.sh [backend|generator] [STAGE_DIR]" >&2
    exit 2
    ;;
esac
echo "build-release.sh: $what staged in $stage ($(( $(date +%s) - start ))s)"
