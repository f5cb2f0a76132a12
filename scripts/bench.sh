#!/usr/bin/env bash
# `make bench`: builds the functions with the tuned release profile (and, unless
# BENCH_BASELINE=0, with cargo's default release settings, profile `baseline`) and as arm64
# zips (scripts/build-lambdas.sh; BENCH_ARM64=0 leaves them out), then measures sizes, cold
# start next to a Python/boto3 peer, peak RSS, AWS calls, latency by manifest size, round trips
# on the critical path, push → pipeline start and history at length against a local moto
# server, and writes docs/design/performance.md. Timings are reported, never asserted.
#
#   RUNS=20 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-20}"
target="${CARGO_TARGET_DIR:-target}"
functions=(on-image-push on-manifest migrate deploy on-pipeline-event verify scan-gate)
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
# The tuned build is linked as scripts/build-lambdas.sh links the zips: position-dependent,
# without `.eh_frame_hdr` and `.eh_frame` (scripts/no-eh-frame.ld; given with --target so that
# it reaches only the bootstraps).
host=$(rustc -vV | sed -n 's/^host: //p')
tuned="$target/$host/release"
t0=$(date +%s)
env "CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUSTFLAGS=-C relocation-model=static -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-T,$PWD/scripts/no-eh-frame.ld" \
  cargo build --release --target "$host" "${pkgs[@]}"
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

out=docs/design/performance.md
mkdir -p "$(dirname "$out")"
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
    t="$tuned/$f"; b="$target/baseline/$f"
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
    BENCH_CLI="$target/debug/berth" "$target/debug/bench" "$tuned" "$target/baseline" "$runs" |
    grep -v '^{"_aws"' # the metric documents on-manifest prints when the bench calls it in process
  cat <<'TXT'

### What the tuning is

- `[profile.release]`: `opt-level = "z"`, `lto = "fat"`, `codegen-units = 1`, `strip = "symbols"`,
  `panic = "abort"`; linked position-dependent (`-C relocation-model=static`, as
  `scripts/build-lambdas.sh` links the zips): a PIE carries a 24-byte relocation for every
  pointer in its data (about 680 KB of on-manifest), and RELR, their compact form, needs glibc
  2.36 where provided.al2023 has 2.34. The executable's own addresses are then fixed (no ASLR
  for them; the stack, heap and libraries are still randomised). And linked with
  `--no-eh-frame-hdr` (the unwinder's index; with `abort` nothing unwinds, so a panic prints its
  message without a backtrace): GNU ld leaves it out (117 KB of on-manifest here, 200 KB of its
  arm64 bootstrap); zig's linker, under cargo-lambda, ignores the flag, which is why
  `make build` takes Debian's toolchain first. GNU ld is also given `scripts/no-eh-frame.ld`,
  which leaves out `.eh_frame`, the unwinder's tables (460–590 KB of each arm64
  bootstrap): without their index the unwinder finds none of them, so nothing read them. With `abort`, a panic ends the process instead of unwinding: Lambda reports
  the invocation as failed (`Runtime exited with error: signal: aborted`), discards the execution
  environment, and the next invocation starts cold. Asynchronous events are retried by Lambda as for
  any error, and the migrate job is re-invoked by CodePipeline; berth's handlers return errors
  instead of panicking on input, so a panic means a bug.
- AWS SDK crates without default features; HTTPS on rustls with ring instead of aws-lc (no C
  build, smaller binaries); only the service clients berth uses.
- The functions build their SDK configuration from their environment variables alone
  (`berth::aws::lambda_config`: credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
  and `AWS_SESSION_TOKEN`, which Lambda sets from the execution role; the region from
  `AWS_REGION`; endpoints, retries and the connect timeout as the SDK's loader reads them).
  `aws_config`'s default chain (profile files, SSO, STS web identity and assumed roles, the ECS
  container and EC2 instance metadata providers, and the STS client they need) is the CLI's
  only: about 330 KB of each arm64 bootstrap.
- What each bootstrap does not carry (measured with an unstripped build and `nm --size-sort`):
  crc-fast's tables for every catalogued CRC (about 700 KB; S3's checksums use three CRCs,
  computed by `vendor/crc-fast`), HTTP/2 and the SDK's proxy layer (about 300 KB; berth's one
  hyper client serves the SDK through `berth::connector`), and tracing-subscriber's
  `env-filter` with its regex engine (about 150 KB; the level comes from
  `AWS_LAMBDA_LOG_LEVEL`).
- The system trust store (`rustls-native-certs` parses every certificate in it) is never read
  before the first `/next`: a thread of its own reads it while the runtime asks for the first
  event, then on-manifest and on-image-push open their AWS connections (TCP and TLS) on the
  runtime (`berth::warm`); the first release takes them instead of opening its own.
  `SSL_CERT_FILE` / `SSL_CERT_DIR` still name another bundle.
- `tokio` current-thread runtime; SDK config and clients built once at init, not per invocation.
- on-manifest reads the manifest and the registry entry at once, resolves the manifest's digests
  while it reads the template, and writes the index entry while it writes the artifact and starts
  the pipeline. A warm instance remembers where each service's ECS service was and reads the
  template alongside the registry entry (dropped if the entry now names another place). One
  `BatchGetImage` per repository, at most 16 at once; the release record written with
  conditional writes (claim, then one final write).
- on-image-push finds a push's services through the push index (one `GetParametersByPath` of
  the repository's entries, one `GetParameters` of their registry entries), so a push costs the
  same requests at any registry size; the last column of its table is what reading the whole
  registry costs, as every push did before the index. Its latency against moto still moves with
  the registry because moto's own parameter lookup scans every parameter; the requests do not.
  How far one install scales: docs/guide/operating.md.
- The round-trip table counts levels: requests that overlap share one. "Round-trip equivalents"
  is the release's time over the held round trip, so it includes connection setup (a fresh
  process) and moto's own time.
TXT
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
