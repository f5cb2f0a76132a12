#!/usr/bin/env bash
# Checks infra/: cfn-lint on the CloudFormation templates, checkov on CloudFormation and
# Terraform (no failed check, every skip needed and explained), and the pytest suite in
# infra/tests (templates deployed into moto, Terraform parsed with python-hcl2, CloudFormation
# and Terraform policies compared).
#
# Needs only python3.11 (or newer) with venv and pip, and access to PyPI on the first run. The
# tools live in .tools/infra-venv (infra/requirements.txt) and .tools/checkov-venv
# (infra/requirements-checkov.txt); a venv is rebuilt when its requirements file changes.
#
# Every step runs even if an earlier one failed; the exit status is non-zero if any failed.
# `--tools` only installs the tools.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

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
    echo "check-infra: needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# ensure_venv DIR REQUIREMENTS: (re)creates DIR from REQUIREMENTS unless it was already built
# from exactly that file.
ensure_venv() {
    local dir="$1" requirements="$2" stamp want
    stamp="$dir/.requirements.sha256"
    want="$("$PYTHON_BIN" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$requirements")"
    if [ -x "$dir/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "==> building $dir from $requirements"
    "$PYTHON_BIN" -m venv --clear "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
    echo "$want" >"$stamp"
}

PYTHON_BIN="$(find_python)"
INFRA_VENV="$ROOT/.tools/infra-venv"
CHECKOV_VENV="$ROOT/.tools/checkov-venv"
ensure_venv "$INFRA_VENV" infra/requirements.txt
ensure_venv "$CHECKOV_VENV" infra/requirements-checkov.txt
# `--tools`: install the tools and stop (the test command does this while cargo compiles).
if [ "${1:-}" = "--tools" ]; then
    exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

FAILED=()
step() {
    local name="$1"
    shift
    echo
    echo "==> $name"
    if "$@"; then
        echo "--> $name: ok"
    else
        echo "--> $name: FAILED"
        FAILED+=("$name")
    fi
}

cfn_lint() {
    local templates=(infra/cloudformation/*.yaml)
    "$INFRA_VENV/bin/cfn-lint" --format parseable "${templates[@]}" &&
        echo "cfn-lint: ${#templates[@]} templates, 0 errors, 0 warnings"
}

checkov_run() {
    # --skip-download: no call to the Prisma Cloud API (the check runs offline).
    "$CHECKOV_VENV/bin/checkov" --directory "$1" --framework cloudformation terraform \
        --skip-download --compact --output json >"$2" || true
}

checkov() {
    checkov_run infra "$WORK/checkov.json"
    # The same scan with every inline skip disabled shows which skips are still needed.
    mkdir -p "$WORK/unsuppressed/infra"
    cp -R infra/cloudformation infra/terraform "$WORK/unsuppressed/infra/"
    "$INFRA_VENV/bin/python" - "$WORK/unsuppressed" <<'PY'
import pathlib, re, sys
for path in pathlib.Path(sys.argv[1]).rglob("*"):
    if path.suffix == ".tf":
        path.write_text(path.read_text().replace("#checkov:skip=", "#checkov-off="))
    elif path.suffix in (".yaml", ".yml"):
        path.write_text(re.sub(r"(?m)^(\s+)checkov:\s*$", r"\1checkov-off:", path.read_text()))
PY
    checkov_run "$WORK/unsuppressed/infra" "$WORK/checkov-unsuppressed.json"
    "$INFRA_VENV/bin/python" scripts/checkov_report.py "$WORK/checkov.json" "$WORK/checkov-unsuppressed.json"
}

pytest_infra() {
    "$INFRA_VENV/bin/python" -m pytest infra/tests -q
}

# terraform fmt -check: the Terraform files as `terraform fmt` writes them. Terraform is not on
# PyPI, so the step runs when a `terraform` binary is on PATH and says it was skipped otherwise.
terraform_fmt() {
    if ! command -v terraform >/dev/null 2>&1; then
        echo "terraform not found on PATH: skipped (install Terraform to check formatting)"
        return 0
    fi
    terraform fmt -check -recursive -diff infra/terraform
}

START=$SECONDS
step "cfn-lint" cfn_lint
step "checkov" checkov
step "terraform fmt" terraform_fmt
step "pytest infra/tests" pytest_infra

echo
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "check-infra: FAILED: ${FAILED[*]} ($((SECONDS - START)) s)"
    exit 1
fi
echo "check-infra: all checks passed ($((SECONDS - START)) s)"
