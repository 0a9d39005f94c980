#!/usr/bin/env bash
# The project's test command (README: "Run the tests"). On a fresh Debian machine it first
# installs what the tests need and is missing, then runs every suite:
#   - PostgreSQL (scripts/postgres.sh starts a throwaway server under target/pg),
#   - MariaDB (scripts/mariadb.sh starts a throwaway server under target/mariadb),
#   - the Python `standardwebhooks` package in target/py (signature interop partner),
#   - Chromium (browser tests of the generator site, driven by playwright-core), apt when root,
#   - the wasm32 target of the Rust toolchain (rustup component, no download beyond rustup's),
#   - the Attio app's npm packages (attio-app/node_modules, from package-lock.json),
#   - the original TypeScript plugin for the compatibility tests (tests/compat/node_modules),
#   - the generator site's WASM (built by the xtask, from crates.io only),
#   - faketime (Debian), to run the date-sensitive suites once more a year ahead.
# Then the Attio app's tests and the whole Rust workspace's tests.
#
# LINT=1 (set by .ci/run) also lints: the workspace's own crates are compiled by clippy-driver
# with `-D warnings` in the very build the tests use (what `cargo clippy --all-targets` checks,
# without a second, check-mode build of every dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_PROFILE_DEV_DEBUG=0
root=$(pwd)
if [ "${LINT:-0}" = 1 ]; then
  # What `cargo clippy -- -D warnings` sets, for every cargo command below (the same wrapper
  # everywhere, or cargo would rebuild the workspace's crates without it).
  RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
fi
start=$(date +%s)
step() { echo "== test.sh: $* ($(( $(date +%s) - start ))s)"; }

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v faketime >/dev/null || need_apt+=(faketime)
command -v node >/dev/null || need_apt+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# postgres.sh and mariadb.sh would install these too, each after its own apt-get update.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    step "apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing system packages: ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

# The npm installs wait on the network and node-gyp (better-sqlite3 compiles from source):
# they run in the background while cargo builds, each logged under target/test-logs/. An
# install whose package-lock.json has not changed since the last one is skipped.
[ -d /usr/include/node ] && export npm_config_nodedir=/usr
mkdir -p target/test-logs
npm_install() { # dir
  local stamp="$1/node_modules/.attio-auth-lock.sha256" sum
  sum=$(sha256sum "$1/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then echo "$1: up to date"; return 0; fi
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error) && echo "$sum" >"$stamp"
}
declare -A npm_jobs=()
for dir in generator-site/tests/browser app-backend/tests/browser attio-app tests/compat; do
  npm_install "$dir" >"target/test-logs/npm-${dir//\//-}.log" 2>&1 &
  npm_jobs[$dir]=$!
done
# Waits for one background install; on failure shows its log and stops.
npm_wait() { # dir
  [ -n "${npm_jobs[$1]:-}" ] || return 0
  if ! wait "${npm_jobs[$1]}"; then
    echo "test.sh: npm ci in $1 failed:" >&2
    cat "target/test-logs/npm-${1//\//-}.log" >&2
    exit 1
  fi
  unset "npm_jobs[$1]"
}

step "PostgreSQL"
source scripts/postgres.sh

step "MariaDB"
source scripts/mariadb.sh

step "Python standardwebhooks (interop partner)"
[ -x target/py/bin/python ] || python3 -m venv target/py
target/py/bin/python -c 'import standardwebhooks' 2>/dev/null ||
  target/py/bin/pip install -q --disable-pip-version-check -r shared/tests/interop/requirements.txt
export INTEROP_PYTHON="$root/target/py/bin/python"

step "generator site: wasm32 target, WASM (xtask)"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo run -q -p xtask -- site

# One build of everything the tests run, with the features `cargo test --workspace` unifies
# (building a binary with `-p` alone would resolve features per package and build a third of
# the dependencies twice). The benches are built too (test profile), so they always compile.
# Every workspace-wide command leaves out xtask: it has no tests, it was built just above
# with its own features (`cargo run -p xtask`, as Vercel's build command and the test of it
# run it), and a workspace build would compile it and its WASM tool chain (wasm-bindgen's
# CLI support, walrus, wasmparser, gimli, rayon) a second time with the workspace's features.
workspace=(--workspace --exclude xtask --locked)
step "build: the workspace's binaries, tests, examples and benches"
cargo build "${workspace[@]}" --bins --tests --examples --benches
export ATTIO_AUTH_BIN="$root/target/debug/attio-auth"
export ATTIO_AUTH_DEMO_BIN="$root/target/debug/attio-auth-demo"

step "Attio app: type check, tests"
npm_wait attio-app
(cd attio-app && npm run -s build && npm test)

step "npm installs: the browser test driver, the original plugin (compatibility tests)"
for dir in "${!npm_jobs[@]}"; do npm_wait "$dir"; done

step "Rust workspace tests"
cargo test "${workspace[@]}" --no-fail-fast

# The replay of the original's transcripts and the protocol crate's tests hold recorded and
# computed times: they must mean the same on any date. Run their test binaries (faketime
# works on a test binary, not on cargo) with the clock a year ahead.
step "date independence: conformance replay and protocol tests at +365 days"
# The same build as the workspace tests above (building one package alone would unify
# features differently and rebuild dependencies).
bins=$(cargo test "${workspace[@]}" --no-run --message-format=json 2>/dev/null | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable") or not m["profile"]["test"]:
        continue
    if "attio-auth-shared" in m["package_id"]:
        print(m["executable"])
    elif "attio-auth-plugin" in m["package_id"] and m["target"]["name"] == "it":
        print(m["executable"] + ":conformance::")')
[ "$(echo $bins | wc -w)" -ge 2 ] || { echo "test.sh: test binaries not found for the faketime run" >&2; exit 1; }
for entry in $bins; do # "binary" or "binary:test-name-filter"
  bin=${entry%%:*}; filter=${entry#"$bin"}; filter=${filter#:}
  echo "faketime +365d: ${bin##*/} ${filter}"
  # wall clock only: timers stay real
  FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '+365d' "$bin" -q ${filter:+"$filter"}
done
step "all tests passed"
