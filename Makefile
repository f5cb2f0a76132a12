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
demo:
	scripts/venv.sh
	cargo build --quiet -p on-image-push -p on-manifest -p migrate -p on-pipeline-event -p verify -p scan-gate -p berth-cli
	BERTH_MOTO_SERVER="$(CURDIR)/.venv/bin/moto_server" cargo run --quiet -p berth-tests --bin demo

## Sizes, cold start, peak RSS, latency and AWS calls; writes docs/design/performance.md.
bench:
	scripts/bench.sh
