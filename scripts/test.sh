#!/usr/bin/env bash
# The test command: installs what it needs, then runs every Rust test (unit, aws-smithy-mocks,
# moto integration), the dependency and docs checks, and the infrastructure checks. Exits
# non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# Checks that compile nothing come first: a failure shows in seconds.
scripts/check-crc-fast.sh
scripts/check-core.sh
python3 -m unittest -q scripts/test_check_docs.py

# The Python tools (moto's server; cfn-lint, checkov and pytest for infra/) install while cargo
# compiles: pip waits on the network, cargo on the CPU.
infra=1
if [ ! -x scripts/check-infra.sh ] || [ "${BERTH_SKIP_INFRA:-}" = 1 ]; then infra=0; fi
tools_log="$(mktemp)"
trap 'rm -f "$tools_log"' EXIT
(
  scripts/venv.sh
  if [ "$infra" = 1 ]; then scripts/check-infra.sh --tools; fi
) >"$tools_log" 2>&1 &
tools=$!

# The end-to-end tests run the compiled function binaries behind a local Runtime API. The
# whole workspace is built at once, tests included, so that every crate is compiled with the
# one feature set the test run needs: building the functions alone would compile the AWS SDK a
# second time with other features.
cargo build --workspace --all-targets
if ! wait "$tools"; then
  cat "$tools_log" >&2
  echo "test: installing the test tools failed (above)" >&2
  exit 1
fi
cat "$tools_log"

export BERTH_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# CARGO_TARGET_DIR may be relative (to the workspace) or absolute.
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
export BERTH_CLI="$target/debug/berth"
# Every relative link and anchor in the docs resolves; every subcommand and BERTH_* variable
# is documented.
python3 scripts/check-docs.py

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The infra checks feed the registry entries the stacks write to the compiled CLI's parser.
if [ "$infra" = 1 ]; then
  scripts/check-infra.sh
fi
