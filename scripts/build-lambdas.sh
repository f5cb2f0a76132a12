#!/usr/bin/env bash
# Builds the Lambda functions as deployable zips:
#
#   dist/on-image-push.zip  dist/on-manifest.zip  dist/migrate.zip  dist/on-pipeline-event.zip
#   dist/scan-gate.zip
#
# each holding one "bootstrap" executable for the provided.al2023 runtime (arm64 by default).
# Upload them to the bucket and prefix the platform stack reads (CodeBucket / CodePrefix).
#
# Uses cargo-lambda and zig from PyPI, pinned, in a venv at .tools/venv (rebuilt when the pins
# change), so nothing is installed outside the repository. Needs: Python 3.11+, the Rust
# toolchain (cargo, rustup) and the Rust standard library of the target triple.
#
# Environment:
#   BERTH_LAMBDA_ARCH=arm64|x86_64   target architecture (default arm64); deploy the stack with
#                                    the same Architecture parameter.
#   CARGO_LAMBDA_VERSION, ZIGLANG_VERSION   override the pins below.
set -euo pipefail

CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.14.1}"
FUNCTIONS=(on-image-push on-manifest migrate on-pipeline-event scan-gate)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.tools/venv"
DIST="$ROOT/dist"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

die() {
    echo "build-lambdas: $*" >&2
    exit 1
}

case "${BERTH_LAMBDA_ARCH:-arm64}" in
arm64 | aarch64)
    ARCH_FLAG=--arm64
    RUST_TARGET=aarch64-unknown-linux-gnu
    ;;
x86_64 | amd64)
    ARCH_FLAG=--x86-64
    RUST_TARGET=x86_64-unknown-linux-gnu
    ;;
*) die "BERTH_LAMBDA_ARCH must be arm64 or x86_64, not ${BERTH_LAMBDA_ARCH}" ;;
esac

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "needs Python 3.11 or newer (set PYTHON=/path/to/python3)"
}

# --- tools: cargo-lambda and zig, pinned, in .tools/venv
PINS="cargo-lambda==${CARGO_LAMBDA_VERSION} ziglang==${ZIGLANG_VERSION}"
if [ ! -x "$VENV/bin/cargo-lambda" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
    echo "==> installing $PINS into $VENV"
    "$(find_python)" -m venv --clear "$VENV"
    # shellcheck disable=SC2086 # PINS is two requirement specifiers
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input $PINS
    echo "$PINS" >"$VENV/.pins"
fi
export PATH="$VENV/bin:$PATH"
# cargo-zigbuild (inside cargo-lambda) takes zig from here before it looks at PATH.
CARGO_ZIGBUILD_ZIG_PATH="$("$VENV/bin/python" -c 'import pathlib, ziglang; print(pathlib.Path(ziglang.__file__).with_name("zig"))')"
export CARGO_ZIGBUILD_ZIG_PATH
[ -x "$CARGO_ZIGBUILD_ZIG_PATH" ] || die "zig not found at $CARGO_ZIGBUILD_ZIG_PATH"

# --- the Rust standard library of the target
command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup)"
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$RUST_TARGET"; then
    echo "==> adding the Rust target $RUST_TARGET"
    rustup target add "$RUST_TARGET" ||
        die "the Rust standard library for $RUST_TARGET is missing and rustup could not add it; install it, or build for the host architecture with BERTH_LAMBDA_ARCH=x86_64 (and deploy with Architecture=x86_64)"
fi

# --- build
echo "==> cargo lambda build --release $ARCH_FLAG (cargo-lambda $CARGO_LAMBDA_VERSION, zig $ZIGLANG_VERSION)"
package_args=()
for name in "${FUNCTIONS[@]}"; do
    package_args+=(-p "$name")
done
cargo lambda build --release "$ARCH_FLAG" --output-format zip "${package_args[@]}"

# --- collect
mkdir -p "$DIST"
for name in "${FUNCTIONS[@]}"; do
    zip="$TARGET_DIR/lambda/$name/bootstrap.zip"
    [ -f "$zip" ] || die "expected $zip after the build"
    cp "$zip" "$DIST/$name.zip"
done

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}
echo "==> built for ${BERTH_LAMBDA_ARCH:-arm64}:"
for name in "${FUNCTIONS[@]}"; do
    printf '  dist/%-22s %8s bytes  sha256 %s\n' "$name.zip" "$(wc -c <"$DIST/$name.zip" | tr -d ' ')" "$(sha256 "$DIST/$name.zip")"
done
