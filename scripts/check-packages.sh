#!/usr/bin/env bash
# The two published crates (attio-auth-shared, attio-auth-plugin) package on their own:
#   - every file `cargo package --list` names is a file of the crate's own folder, with the
#     same content (a readme, license or migration taken from elsewhere fails);
#   - no include_str!/include_bytes!/sqlx::migrate! path in the crate leaves its folder;
#   - the crates.io metadata is complete;
#   - their docs build without a warning (`#![deny(missing_docs)]` is on in both);
#   - `cargo publish --dry-run` of both builds each from its .crate alone: cargo packages
#     attio-auth-shared first and verifies the plugin against that .crate (a dry-run of the
#     plugin alone needs shared on crates.io: publish shared first; auth-plugin/README.md).
# CI (.ci/run) runs it without the dry-run; `--publish` adds it. The verify build uses the packaged crates' own features, so its
# first run builds their dependencies once more (about 5 minutes on 2 cores); later runs
# reuse target/package.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fail() { echo "check-packages: $*" >&2; exit 1; }

crates=("shared:attio-auth-shared" "auth-plugin:attio-auth-plugin")

for entry in "${crates[@]}"; do
  dir=${entry%%:*}; pkg=${entry#*:}
  echo "== $pkg: cargo package --list"
  list=$(cargo package -p "$pkg" --no-verify --list --allow-dirty --locked)
  n=0
  while IFS= read -r f; do
    case "$f" in
      # written by cargo itself
      Cargo.toml | Cargo.toml.orig | Cargo.lock | .cargo_vcs_info.json) continue ;;
    esac
    [ -f "$dir/$f" ] || fail "$pkg packages $f, which is not a file of $dir/ (taken from outside the crate)"
    n=$((n + 1))
  done <<<"$list"
  echo "$n files, all inside $dir/"
  for required in README.md LICENSE src/lib.rs; do
    grep -qx "$required" <<<"$list" || fail "$pkg does not package $required"
  done

  echo "== $pkg: include paths stay inside $dir/"
  # include_str!("p") / include_bytes!("p") are relative to the file; migrate!("p") to the crate.
  while IFS=: read -r file _ text; do
    path=$(sed -E 's/.*(include_str|include_bytes)!\(\s*"([^"]+)".*/\2/' <<<"$text")
    target=$(realpath -m "$(dirname "$file")/$path")
    case "$target" in
      "$root/$dir"/*) ;;
      *) fail "$file includes $path, outside $dir/" ;;
    esac
  done < <(grep -rnE '(include_str|include_bytes)!\(\s*"' "$dir" --include='*.rs' || true)
  while IFS=: read -r file _ text; do
    path=$(sed -E 's/.*migrate!\(\s*"([^"]+)".*/\1/' <<<"$text")
    target=$(realpath -m "$root/$dir/$path")
    case "$target" in
      "$root/$dir"/*) ;;
      *) fail "$file migrates from $path, outside $dir/" ;;
    esac
  done < <(grep -rnE 'migrate!\(\s*"' "$dir" --include='*.rs' || true)
done

echo "== crates.io metadata"
cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, sys
want = ["description", "license", "repository", "homepage", "documentation", "readme",
        "keywords", "categories", "rust_version"]
meta = json.load(sys.stdin)
bad = []
for p in meta["packages"]:
    if p["name"] not in ("attio-auth-shared", "attio-auth-plugin"):
        continue
    if p.get("publish") == []:
        bad.append(p["name"] + ": publish = false")
    bad += [p["name"] + ": no " + k for k in want if not p.get(k)]
    for d in p["dependencies"]:
        if d.get("path") and d["kind"] != "dev" and d["req"] == "*":
            bad.append(p["name"] + ": path dependency " + d["name"] + " without a version")
if bad:
    sys.exit("check-packages: " + "; ".join(bad))
print("complete")
'

echo "== cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -q -p attio-auth-shared -p attio-auth-plugin

# The dry-run verifies both crates from their .crate files, which rebuilds their dependencies
# with the packaged features (about 5 minutes on 2 cores): run it before a release
# (`scripts/check-packages.sh --publish`), not on every CI run.
if [ "${1:-}" = "--publish" ]; then
  echo "== cargo publish --dry-run -p attio-auth-shared -p attio-auth-plugin"
  cargo publish --dry-run --allow-dirty --locked -q -p attio-auth-shared -p attio-auth-plugin
fi
echo "check-packages: ok"
