#!/usr/bin/env bash
# `make bench`: builds the functions with the tuned release profile (and, unless
# BENCH_BASELINE=0, with cargo's default release settings, profile `baseline`) and as arm64
# zips (scripts/build-lambdas.sh; BENCH_ARM64=0 leaves them out), then measures sizes, cold
# start next to a Python/boto3 peer, peak RSS, AWS calls, latency by manifest size, round trips
# on the critical path, push → pipeline start and history at length against a local moto
# server, and writes docs/PERFORMANCE.md. Timings are reported, never asserted.
#
#   RUNS=20 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-20}"
target="${CARGO_TARGET_DIR:-target}"
functions=(on-image-push on-manifest migrate on-pipeline-event verify scan-gate)
pkgs=()
for f in "${functions[@]}"; do pkgs+=(-p "$f"); done

scripts/venv.sh
# The peer: boto3 pinned in tests/peer/requirements.txt, in .tools/peer (rebuilt when the pins change).
peer=.tools/peer
if [ ! -x "$peer/bin/python" ] || ! cmp -s tests/peer/requirements.txt "$peer/.requirements.txt"; then
  python3 -m venv --clear "$peer"
  "$peer/bin/pip" install --quiet --disable-pip-version-check -r tests/peer/requirements.txt
  cp tests/peer/requirements.txt "$peer/.requirements.txt"
fi

echo "==> building (tuned release, then baseline)" >&2
t0=$(date +%s)
cargo build --release "${pkgs[@]}"
t1=$(date +%s)
if [ "${BENCH_BASELINE:-1}" != 0 ]; then cargo build --profile baseline "${pkgs[@]}"; fi
t2=$(date +%s)
cargo build -p berth-tests --bin bench -p berth-cli

arm64="left out (BENCH_ARM64=0)"
if [ "${BENCH_ARM64:-1}" != 0 ]; then
  if BERTH_LAMBDA_ARCH=arm64 CARGO_TARGET_DIR="${BENCH_ARM64_TARGET_DIR:-$target}" scripts/build-lambdas.sh >&2; then
    arm64=built
  else
    arm64="not built: scripts/build-lambdas.sh failed (see its output)"
  fi
fi

size() { if [ -f "$1" ]; then stat -c %s "$1"; fi; }
zipsize() {
  [ -f "$1" ] || return 0
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
inzip() { python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$1"; }
mb() { if [ -n "$1" ]; then awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; else echo "n/a"; fi; }
verdict() { awk -v b="$1" -v goal="$2" 'BEGIN { print (b <= goal * 1000000) ? "yes" : "**no**" }'; }

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
    t="$target/release/$f"; b="$target/baseline/$f"
    echo "| $f | $(mb "$(size "$t")") | $(mb "$(zipsize "$t")") | $(mb "$(size "$b")") | $(mb "$(zipsize "$b")") |"
  done
  echo
  if [ "$arm64" = built ]; then
    echo "### arm64 (what Lambda runs; \`make build\`, dist/)"
    echo
    echo "| function | bootstrap | ≤ 5 MB | zip | ≤ 2.5 MB |"
    echo "|---|---:|:---:|---:|:---:|"
    for f in "${functions[@]}"; do
      b=$(inzip "dist/$f.zip"); z=$(size "dist/$f.zip")
      echo "| $f | $(mb "$b") | $(verdict "$b" 5) | $(mb "$z") | $(verdict "$z" 2.5) |"
    done
  else
    echo "arm64: $arm64."
  fi
  echo
  echo "Build time on this machine: tuned release $((t1 - t0)) s, default release $((t2 - t1)) s (incremental: 0 s means nothing had changed since the last build)."
  echo
  BERTH_MOTO_SERVER="$PWD/.venv/bin/moto_server" BENCH_PEER_PYTHON="$PWD/$peer/bin/python" \
    BENCH_CLI="$target/debug/berth" "$target/debug/bench" "$target/release" "$target/baseline" "$runs" |
    grep -v '^{"_aws"' # the metric documents on-manifest prints when the bench calls it in process
  cat <<'TXT'

### What the tuning is

- `[profile.release]`: `opt-level = "z"`, `lto = "fat"`, `codegen-units = 1`, `strip = "symbols"`,
  `panic = "abort"`. With `abort`, a panic ends the process instead of unwinding: Lambda reports
  the invocation as failed (`Runtime exited with error: signal: aborted`), discards the execution
  environment, and the next invocation starts cold. Asynchronous events are retried by Lambda as for
  any error, and the migrate job is re-invoked by CodePipeline; berth's handlers return errors
  instead of panicking on input, so a panic means a bug.
- AWS SDK crates without default features; HTTPS on rustls with ring instead of aws-lc (no C
  build, smaller binaries); only the service clients berth uses.
- The system trust store (`rustls-native-certs` parses every certificate in it) is never read
  before the first `/next`: on a thread of its own for the AWS clients, on first use for the
  plain HTTP client of `verify` and notifications. With aws-smithy-http-client 1.5 the AWS
  clients already read it off that path; on-image-push measured 3.35 ms before and 3.40 ms after
  in one interleaved run. What remains is the process itself (exec, relocation, page faults).
  `SSL_CERT_FILE` / `SSL_CERT_DIR` still name another bundle.
- `tokio` current-thread runtime; SDK config and clients built once at init, not per invocation.
- on-manifest reads the manifest and the registry entry at once, resolves the manifest's digests
  while it reads the template, and writes the index entry while it writes the artifact and starts
  the pipeline. One `BatchGetImage` per repository, all repositories concurrently (bounded); the
  release record written with conditional writes (claim, then one final write).
- The round-trip table counts levels: requests that overlap share one. "Round-trip equivalents"
  is the release's time over the held round trip, so it includes connection setup (a fresh
  process) and moto's own time.
TXT
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
