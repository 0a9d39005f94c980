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
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_PROFILE_DEV_DEBUG=0
root=$(pwd)
start=$(date +%s)
step() { echo "== test.sh: $* ($(( $(date +%s) - start ))s)"; }

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v faketime >/dev/null || need_apt+=(faketime)
command -v node >/dev/null || need_apt+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    step "apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test.sh: missing system packages: ${need_apt[*]} (sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

step "PostgreSQL"
source scripts/postgres.sh

step "MariaDB"
source scripts/mariadb.sh

step "Python standardwebhooks (interop partner)"
[ -x target/py/bin/python ] || python3 -m venv target/py
target/py/bin/python -c 'import standardwebhooks' 2>/dev/null ||
  target/py/bin/pip install -q --disable-pip-version-check -r shared/tests/interop/requirements.txt
export INTEROP_PYTHON="$root/target/py/bin/python"

step "generator site: wasm32 target, browser test driver, WASM (xtask)"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
(cd generator-site/tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo run -q -p xtask -- site

step "build the attio-auth and attio-auth-demo binaries"
cargo build -q -p attio-auth-backend --bin attio-auth
export ATTIO_AUTH_BIN="$root/target/debug/attio-auth"
cargo build -q -p attio-auth-demo --bin attio-auth-demo
export ATTIO_AUTH_DEMO_BIN="$root/target/debug/attio-auth-demo"

step "Attio app: npm ci, type check, tests"
[ -d /usr/include/node ] && export npm_config_nodedir=/usr
(cd attio-app && npm ci --no-audit --no-fund --loglevel=error && npm run -s build && npm test)

step "the original plugin for the compatibility tests: npm ci"
(cd tests/compat && npm ci --no-audit --no-fund --loglevel=error)

step "Rust workspace tests"
cargo test --workspace --locked --no-fail-fast

# The replay of the original's transcripts and the protocol crate's tests hold recorded and
# computed times: they must mean the same on any date. Run their test binaries (faketime
# works on a test binary, not on cargo) with the clock a year ahead.
step "date independence: conformance replay and protocol tests at +365 days"
# The same build as the workspace tests above (building one package alone would unify
# features differently and rebuild dependencies).
bins=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null | python3 -c 'import json, sys
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
