#!/bin/sh
# Vercel's install step for the generator site (vercel.json `installCommand`). Vercel's Rust
# builder installs rustup only later, when it builds the function, so this step cannot assume
# a toolchain: it installs rustup the way that builder does when `rustup` is missing (the
# minimal profile), then adds the wasm32 target the site's WASM island needs.
set -eu
PATH="$HOME/.cargo/bin:$PATH"
if ! command -v rustup >/dev/null 2>&1; then
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
rustup target add wasm32-unknown-unknown
