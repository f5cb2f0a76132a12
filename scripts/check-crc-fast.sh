#!/usr/bin/env bash
# Checks that `[patch.crates-io] crc-fast = { path = "vendor/crc-fast" }` still applies.
# Cargo drops a patch whose version no longer satisfies the dependent's requirement (say after
# an SDK update) with nothing but a warning, and the registry crc-fast, with its ~700 KB of
# tables, quietly returns to every binary. This fails unless every crc-fast in the workspace's
# normal and build dependency graph, for every target, is vendor/crc-fast, something depends
# on it, and Cargo does not report the patch as unused. Resolution only: no compilation.
set -euo pipefail
cd "$(dirname "$0")/.."

vendor="$PWD/vendor/crc-fast"
err=$(mktemp)
trap 'rm -f "$err"' EXIT

fail() {
  echo "crc-fast: FAIL: $*" >&2
  echo "crc-fast: [patch.crates-io] in Cargo.toml must put vendor/crc-fast in place of the" \
    "registry crate. If the SDK now needs a newer crc-fast (or a feature), check that the API" \
    "it calls is unchanged, match vendor/crc-fast's version (and features) and run" \
    "\`cargo update -p crc-fast\`." >&2
  exit 1
}

# The whole graph, one package a line, each prefixed by its depth (0 = a workspace member).
if ! graph=$(cargo tree --workspace --edges normal,build --target all \
  --prefix depth --format '{p}' 2>"$err"); then
  cat "$err" >&2
  fail "cargo tree failed"
fi

# `parent<TAB>crc-fast package` for each crc-fast in the graph ("-" for no parent). Path
# packages print as `crc-fast v1.2.3 (/abs/path)`, registry ones as `crc-fast v1.2.3`.
edges=$(awk '
  match($0, /^[0-9]+/) {
    depth = substr($0, 1, RLENGTH) + 0
    pkg = substr($0, RLENGTH + 1)
    sub(/ \(\*\)$/, "", pkg)
    name = pkg
    sub(/ .*/, "", name)
    parent[depth] = name
    if (name == "crc-fast") print (depth == 0 ? "-" : parent[depth - 1]) "\t" pkg
  }' <<<"$graph" | sort -u)

# Cargo's only sign of a patch it did not use.
if grep -i 'crc-fast.*was not used in the crate graph' "$err" >&2; then
  fail "cargo reports the crc-fast patch as unused (graph: $(cut -f2 <<<"$edges" |
    sort -u | paste -sd, | sed 's/,/, /g'))"
fi

ours=" ($vendor)"
foreign=$(awk -F'\t' -v ours="$ours" \
  'substr($2, length($2) - length(ours) + 1) != ours { print $1 " -> " $2 }' <<<"$edges")
if [ -n "$foreign" ]; then
  fail "crc-fast not from vendor/crc-fast in the graph: $(paste -sd, <<<"$foreign" |
    sed 's/,/, /g')"
fi

versions=$(cut -f2 <<<"$edges" | sort -u)
if [ "$(grep -c . <<<"$versions")" -ne 1 ]; then
  fail "not exactly one crc-fast in the graph: ${versions:-none}"
fi
version=${versions#crc-fast v}
version=${version%% *}

# The vendor crate is a workspace member, so it is in the graph even when nothing uses it.
dependents=$(awk -F'\t' '$1 != "-" { print $1 }' <<<"$edges" | paste -sd, | sed 's/,/, /g')
[ -n "$dependents" ] || fail "nothing depends on crc-fast: the patch is unused"

echo "crc-fast: patched to vendor/crc-fast ($dependents -> crc-fast $version (path))"
