.PHONY: test demo build bench lint

## Runs every test (installs moto in .venv first).
test:
	scripts/test.sh

## Formatting and lints as CI applies them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## arm64 Lambda zips in dist/ (Debian's rustc-web and cross gcc where installed, else cargo-lambda from PyPI).
build:
	scripts/build-lambdas.sh

## The release flow end to end against a local moto server (started and stopped by the demo).
## One build of every binary with the workspace's one feature set: building the functions with
## -p would compile the AWS SDK again with other features.
demo:
	scripts/venv.sh
	cargo build --quiet --workspace --bins
	BERTH_MOTO_SERVER="$(CURDIR)/.venv/bin/moto_server" "$${CARGO_TARGET_DIR:-target}/debug/demo"

## Sizes, cold start, peak RSS, latency and AWS calls; writes docs/design/performance.md.
bench:
	scripts/bench.sh
