#!/usr/bin/env bash
# `make bench`: builds the functions with the tuned release profile and with cargo's default
# release settings (profile `baseline`), then measures sizes, cold start, peak RSS, on-manifest
# latency by manifest size and AWS calls per release against a local moto server, and writes
# docs/PERFORMANCE.md. Timings are reported, never asserted.
#
#   RUNS=20 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-20}"
functions=(on-image-push on-manifest migrate on-pipeline-event scan-gate)
pkgs=(-p on-image-push -p on-manifest -p migrate -p on-pipeline-event -p scan-gate)

scripts/venv.sh
echo "==> building (tuned release, then baseline)" >&2
t0=$(date +%s)
cargo build --release "${pkgs[@]}"
t1=$(date +%s)
cargo build --profile baseline "${pkgs[@]}"
t2=$(date +%s)
cargo build -p berth-tests --bin bench

size() { stat -c %s "$1"; }
zipsize() {
  python3 - "$1" <<'PY'
import io, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, open(sys.argv[1], "rb").read())
print(len(buf.getvalue()))
PY
}
mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }

arm64="not built: this machine's Rust toolchain has no aarch64-unknown-linux-gnu standard library and none can be downloaded; run scripts/build-lambdas.sh where it can"
if rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu && [ -x scripts/build-lambdas.sh ]; then
  if scripts/build-lambdas.sh >&2; then arm64="built"; fi
fi

out=docs/PERFORMANCE.md
mkdir -p docs
{
  echo "# Performance"
  echo
  echo "Regenerate with \`make bench\` (\`RUNS=$runs scripts/bench.sh\`). Measured $(date -u +%Y-%m-%d) on"
  echo "$(nproc) cores of $(uname -m), $(rustc --version | cut -d' ' -f1-2). Timings against a local moto"
  echo "server are dominated by moto's own per-request time; they compare builds and sizes, not AWS."
  echo
  echo "### Binary and deployment zip size (host $(uname -m))"
  echo
  echo "| function | tuned bootstrap | tuned zip | default-release bootstrap | default-release zip |"
  echo "|---|---:|---:|---:|---:|"
  for f in "${functions[@]}"; do
    t="target/release/$f"; b="target/baseline/$f"
    echo "| $f | $(mb "$(size "$t")") | $(mb "$(zipsize "$t")") | $(mb "$(size "$b")") | $(mb "$(zipsize "$b")") |"
  done
  echo
  if [ "$arm64" = built ]; then
    echo "arm64 (cargo-lambda):"
    echo
    echo "| function | zip |"
    echo "|---|---:|"
    for f in "${functions[@]}"; do echo "| $f | $(mb "$(size "dist/$f.zip")") |"; done
  else
    echo "arm64 (cargo-lambda): $arm64."
  fi
  echo
  echo "Build time on this machine: tuned release $((t1 - t0)) s, default release $((t2 - t1)) s (incremental: 0 s means nothing had changed since the last build)."
  echo
  BERTH_MOTO_SERVER="$PWD/.venv/bin/moto_server" target/debug/bench target/release target/baseline "$runs"
  cat <<'TXT'

### What the tuning is

- `[profile.release]`: `opt-level = "z"`, `lto = "fat"`, `codegen-units = 1`, `strip = "symbols"`,
  `panic = "abort"`. With `abort`, a panic ends the process instead of unwinding: Lambda reports
  the invocation as failed (`Runtime exited with error: signal: aborted`), discards the execution
  environment, and the next invocation starts cold. Asynchronous events are retried by Lambda as for
  any error, and the migrate job is re-invoked by CodePipeline; berth's handlers return errors
  instead of panicking on input, so a panic means a bug.
- AWS SDK crates without default features; HTTPS on rustls with ring instead of aws-lc (no C
  build, smaller binaries); only the five service clients berth uses.
- `tokio` current-thread runtime; SDK config and clients built once at init, not per invocation.
- One `BatchGetImage` per repository, all repositories concurrently; the release record written
  with conditional writes (claim, then one final write) instead of read-then-write.
TXT
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
