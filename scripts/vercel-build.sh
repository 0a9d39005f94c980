#!/bin/sh
# Vercel's build step for the generator site (vercel.json `buildCommand`): the WASM island
# into generator-site/public/pkg/, the static output Vercel serves. The function itself
# (api/generator.rs) is built afterwards by Vercel's Rust builder, as
# `cargo build --release --bin generator`. generator-site/tests/it/vercel.rs runs both.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PATH"
"${CARGO:-cargo}" run --locked -p xtask -- site
