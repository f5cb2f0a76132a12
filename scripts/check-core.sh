#!/usr/bin/env bash
# berth-core holds the decisions and must stay pure: no AWS SDK, no HTTP client, no runtime.
# Its normal and build dependencies are listed (nothing is compiled) and any crate of the
# AWS SDK or smithy runtime, tokio, hyper or lambda_runtime fails the check, naming it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deps="$(cargo tree -p berth-core --edges normal,build --prefix none --format '{p}' --target all | sort -u)"
bad="$(grep -E '^(aws-|aws_|tokio |hyper |hyper-|lambda_runtime|lambda-runtime)' <<<"$deps" || true)"
if [ -n "$bad" ]; then
    echo "check-core: FAIL: berth-core depends on crates that do I/O:" >&2
    sed 's/^/  /' <<<"$bad" >&2
    echo "  Keep AWS calls in the berth crate (shared/); berth-core takes their results as values." >&2
    exit 1
fi
echo "check-core: berth-core is pure ($(wc -l <<<"$deps") crates, none of the AWS SDK, tokio, hyper or lambda_runtime)"
