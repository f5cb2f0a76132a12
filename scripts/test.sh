#!/usr/bin/env bash
# The test command: installs what it needs, then runs every Rust test (unit, aws-smithy-mocks,
# moto integration) and the infrastructure checks. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
export BERTH_MOTO_SERVER="$PWD/.venv/bin/moto_server"
# The end-to-end tests run the compiled function binaries behind a local Runtime API.
cargo build -p on-image-push -p on-manifest -p migrate -p on-pipeline-event -p verify -p scan-gate -p berth-cli
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# The infra checks feed the registry entries the stacks write to the compiled CLI's parser.
export BERTH_CLI="$PWD/${CARGO_TARGET_DIR:-target}/debug/berth"
if [ -x scripts/check-infra.sh ] && [ "${BERTH_SKIP_INFRA:-}" != 1 ]; then
  scripts/check-infra.sh
fi
