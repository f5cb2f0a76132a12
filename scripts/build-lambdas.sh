#!/usr/bin/env bash
# Builds the Lambda functions as deployable zips:
#
#   dist/on-image-push.zip  dist/on-manifest.zip  dist/migrate.zip  dist/deploy.zip  dist/on-pipeline-event.zip
#   dist/verify.zip  dist/scan-gate.zip
#
# each holding one "bootstrap" executable for the provided.al2023 runtime (arm64 by default).
# Upload them to the bucket and prefix the platform stack reads (CodeBucket / CodePrefix).
#
# Two ways to build, chosen in this order:
#
# - Debian's packaged toolchain, with no download at all: `rustc-web` and `cargo-web` (Rust
#   1.96), the target's standard library (`libstd-rust-web-dev:arm64` after `dpkg
#   --add-architecture arm64`), and the cross linker (`gcc-aarch64-linux-gnu`), when those are
#   installed (`/usr/bin/rustc`). Its GNU ld makes the smaller bootstraps (see the link choices
#   below). `qemu-user` (optional) lets the script start an arm64 bootstrap.
# - cargo-lambda and zig from PyPI, pinned, in a venv at .tools/venv (rebuilt when the pins
#   change), when rustup has the Rust standard library of the target (or can add it). Needs
#   Python 3.11+ and the Rust toolchain (cargo, rustup).
#
# Either way every bootstrap is checked before it is zipped: it must need no glibc symbol newer
# than 2.34 (provided.al2023's glibc); the Debian build also starts one bootstrap under
# qemu-aarch64 until it asks the Runtime API for its first event.
#
# Environment:
#   BERTH_LAMBDA_ARCH=arm64|x86_64   target architecture (default arm64); deploy the stack with
#                                    the same Architecture parameter.
#   BERTH_BUILD_WITH=cargo-lambda|debian   force one way of building.
#   CARGO_LAMBDA_VERSION, ZIGLANG_VERSION   override the pins below.
set -euo pipefail

CARGO_LAMBDA_VERSION="${CARGO_LAMBDA_VERSION:-1.9.2}"
ZIGLANG_VERSION="${ZIGLANG_VERSION:-0.14.1}"
FUNCTIONS=(on-image-push on-manifest migrate deploy on-pipeline-event verify scan-gate)
GLIBC_CEILING=2.34

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
    GNU_PREFIX=aarch64-linux-gnu-
    ;;
x86_64 | amd64)
    ARCH_FLAG=--x86-64
    RUST_TARGET=x86_64-unknown-linux-gnu
    GNU_PREFIX=
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

package_args=()
for name in "${FUNCTIONS[@]}"; do
    package_args+=(-p "$name")
done

rustup_has_target() {
    command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$RUST_TARGET"
}

debian_toolchain() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
        [ -d "$(/usr/bin/rustc --print sysroot)/lib/rustlib/$RUST_TARGET/lib" ] &&
        { [ -z "$GNU_PREFIX" ] || command -v "${GNU_PREFIX}gcc" >/dev/null 2>&1; }
}

# --- cargo-lambda and zig, pinned, in .tools/venv
build_with_cargo_lambda() {
    local pins="cargo-lambda==${CARGO_LAMBDA_VERSION} ziglang==${ZIGLANG_VERSION}"
    if [ ! -x "$VENV/bin/cargo-lambda" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$pins" ]; then
        echo "==> installing $pins into $VENV"
        "$(find_python)" -m venv --clear "$VENV"
        # shellcheck disable=SC2086 # pins is two requirement specifiers
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input $pins
        echo "$pins" >"$VENV/.pins"
    fi
    export PATH="$VENV/bin:$PATH"
    # cargo-zigbuild (inside cargo-lambda) takes zig from here before it looks at PATH.
    CARGO_ZIGBUILD_ZIG_PATH="$("$VENV/bin/python" -c 'import pathlib, ziglang; print(pathlib.Path(ziglang.__file__).with_name("zig"))')"
    export CARGO_ZIGBUILD_ZIG_PATH
    [ -x "$CARGO_ZIGBUILD_ZIG_PATH" ] || die "zig not found at $CARGO_ZIGBUILD_ZIG_PATH"
    echo "==> cargo lambda build --release $ARCH_FLAG (cargo-lambda $CARGO_LAMBDA_VERSION, zig $ZIGLANG_VERSION)"
    cargo lambda build --release "$ARCH_FLAG" "${package_args[@]}"
    for name in "${FUNCTIONS[@]}"; do
        BOOTSTRAPS[$name]="$TARGET_DIR/lambda/$name/bootstrap"
    done
}

# --- Debian's rustc-web, cargo-web and cross gcc
build_with_debian() {
    local upper
    upper="$(echo "$RUST_TARGET" | tr 'a-z-' 'A-Z_')"
    echo "==> /usr/bin/cargo build --release --target $RUST_TARGET ($(/usr/bin/rustc --version))"
    if [ -n "$GNU_PREFIX" ]; then
        export "CARGO_TARGET_${upper}_LINKER=${GNU_PREFIX}gcc"
        export "CC_${RUST_TARGET//-/_}=${GNU_PREFIX}gcc"
    fi
    # GNU ld also leaves out the unwinder's tables (scripts/no-eh-frame.ld): 460-590 KB of
    # each arm64 bootstrap that nothing reads (zig's linker, above, is not given the script).
    export "$RUSTFLAGS_VAR=${!RUSTFLAGS_VAR} -C link-arg=-Wl,-T,$ROOT/scripts/no-eh-frame.ld"
    RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --locked --target "$RUST_TARGET" "${package_args[@]}"
    for name in "${FUNCTIONS[@]}"; do
        BOOTSTRAPS[$name]="$TARGET_DIR/$RUST_TARGET/release/$name"
    done
}

# The newest glibc symbol version a bootstrap needs must not pass GLIBC_CEILING.
check_glibc() {
    local bin=$1 newest
    newest="$("${GNU_PREFIX}objdump" -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
    if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC_CEILING" | sort -V | tail -1)" != "$GLIBC_CEILING" ]; then
        die "$bin needs glibc $newest; provided.al2023 has $GLIBC_CEILING"
    fi
    echo "  $(basename "$(dirname "$bin")")/$(basename "$bin"): newest glibc symbol $newest (ceiling $GLIBC_CEILING)"
}

# Starts `bin` (under qemu when it is not the host's architecture) behind a one-request Runtime
# API on 127.0.0.1 and waits, at most 60 s, for its first `/next`; then stops it.
smoke_run() {
    local bin=$1 runner=()
    if [ "$(uname -m)" != "${RUST_TARGET%%-*}" ]; then
        command -v "qemu-${RUST_TARGET%%-*}" >/dev/null 2>&1 || {
            echo "  (qemu-${RUST_TARGET%%-*} not installed: no smoke run)"
            return 0
        }
        runner=("qemu-${RUST_TARGET%%-*}" -L "/usr/${GNU_PREFIX%-}")
    fi
    "$(find_python)" - "$bin" "${runner[@]}" <<'PY'
import http.server, os, subprocess, sys, threading, time
seen = threading.Event()
class Api(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            seen.set()
        self.send_response(503)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % server.server_port, "AWS_REGION": "us-east-1",
       "AWS_ACCESS_KEY_ID": "smoke", "AWS_SECRET_ACCESS_KEY": "smoke",
       "BERTH_RELEASE_BUCKET": "smoke", "AWS_LAMBDA_FUNCTION_NAME": "smoke",
       # qemu-user 7.2 hangs in any thread start (even a bare std::thread::spawn).
       "BERTH_TLS_ROOTS_EARLY": "0",
       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
       "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/smoke", "AWS_LAMBDA_LOG_STREAM_NAME": "smoke"}
started = time.monotonic()
child = subprocess.Popen(sys.argv[2:] + [sys.argv[1]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
ok = seen.wait(60)
child.kill()
_, err = child.communicate()
server.shutdown()
if not ok:
    sys.exit("no /next within 60 s: " + err.decode(errors="replace")[-2000:])
print("  smoke run: %s asked for its first event after %.0f ms" % (os.path.basename(sys.argv[1]), (time.monotonic() - started) * 1000))
PY
}

# Two link choices, given with --target so that they reach only the bootstraps (not build
# scripts or proc macros):
# - position-dependent executables: a PIE bootstrap carries a relocation for every pointer in
#   its data (`.rela.dyn`, about 680 KB of on-manifest's 7 MB, 24 bytes each), and their
#   compact form (RELR) needs glibc 2.36, newer than provided.al2023's;
# - `--no-eh-frame-hdr`: the unwinder's index, and with `panic = "abort"` nothing unwinds (a
#   panic still prints its message, without a backtrace). GNU ld (the Debian path, x86_64)
#   leaves it out; the zig linker under cargo-lambda 1.9.2 keeps it (200 KB of on-manifest).
RUSTFLAGS_VAR="CARGO_TARGET_$(echo "$RUST_TARGET" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
export "$RUSTFLAGS_VAR=${!RUSTFLAGS_VAR:-} -C relocation-model=static -C link-arg=-Wl,--no-eh-frame-hdr"

declare -A BOOTSTRAPS
case "${BERTH_BUILD_WITH:-}" in
cargo-lambda) build_with_cargo_lambda ;;
debian)
    debian_toolchain || die "BERTH_BUILD_WITH=debian needs rustc-web, cargo-web, the $RUST_TARGET standard library and ${GNU_PREFIX}gcc"
    build_with_debian
    ;;
"")
    # Debian's first when installed: GNU ld honours --no-eh-frame-hdr and takes
    # scripts/no-eh-frame.ld (given to GNU ld only), and that keeps every arm64 bootstrap
    # well under 5 MB (docs/design/performance.md).
    if debian_toolchain; then
        echo "==> Debian's toolchain has the $RUST_TARGET standard library and linker"
        build_with_debian
    elif rustup_has_target; then
        build_with_cargo_lambda
    else
        command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup)"
        echo "==> adding the Rust target $RUST_TARGET"
        rustup target add "$RUST_TARGET" ||
            die "the Rust standard library for $RUST_TARGET is missing and rustup could not add it; install it (or Debian's rustc-web, cargo-web and libstd-rust-web-dev:arm64 with gcc-aarch64-linux-gnu), or build for the host architecture with BERTH_LAMBDA_ARCH=x86_64 (and deploy with Architecture=x86_64)"
        build_with_cargo_lambda
    fi
    ;;
*) die "BERTH_BUILD_WITH must be cargo-lambda or debian, not ${BERTH_BUILD_WITH}" ;;
esac

# --- check, smoke-run one, zip
echo "==> checking the bootstraps"
for name in "${FUNCTIONS[@]}"; do
    [ -f "${BOOTSTRAPS[$name]}" ] || die "expected ${BOOTSTRAPS[$name]} after the build"
    check_glibc "${BOOTSTRAPS[$name]}"
done
smoke_run "${BOOTSTRAPS[on-image-push]}"
mkdir -p "$DIST"
for name in "${FUNCTIONS[@]}"; do
    "$(find_python)" - "${BOOTSTRAPS[$name]}" "$DIST/$name.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2] + ".tmp", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(sys.argv[1], "rb").read())
PY
    mv "$DIST/$name.zip.tmp" "$DIST/$name.zip"
done

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}
echo "==> built for ${BERTH_LAMBDA_ARCH:-arm64}:"
for name in "${FUNCTIONS[@]}"; do
    printf '  dist/%-22s %8s bytes (bootstrap %8s bytes)  sha256 %s\n' "$name.zip" "$(wc -c <"$DIST/$name.zip" | tr -d ' ')" "$(wc -c <"${BOOTSTRAPS[$name]}" | tr -d ' ')" "$(sha256 "$DIST/$name.zip")"
done
