#!/usr/bin/env bash
# Creates (or reuses) .venv with the pinned test tools: moto's server for the AWS emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements-test.txt
if [ ! -x .venv/bin/moto_server ] || ! cmp -s requirements-test.txt "$stamp"; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-test.txt
  cp requirements-test.txt "$stamp"
fi
