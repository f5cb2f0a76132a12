#!/usr/bin/env python3
"""Reads checkov's JSON reports for scripts/check-infra.sh and decides.

    checkov_report.py REPORT.json UNSUPPRESSED.json

REPORT is checkov run on infra/ as it is; UNSUPPRESSED is checkov run on a copy of infra/ with
every inline skip disabled. Fails (exit 1) when:
  - a check fails in REPORT;
  - a skip has no reason next to it;
  - a skip is stale: the check it silences passes without it (the skip can go).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _runs(path: Path) -> list[dict]:
    data = json.loads(path.read_text())
    runs = data if isinstance(data, list) else [data]
    return [r for r in runs if "results" in r]


def _key(check: dict) -> tuple[str, str, str]:
    return (check["check_id"], check["file_path"].lstrip("/"), check["resource"])


def main(report_path: str, unsuppressed_path: str) -> int:
    runs = _runs(Path(report_path))
    if not runs:
        print("checkov: the report has no results; did checkov run?")
        return 1
    ok = True
    skipped: dict[tuple, dict] = {}
    for run in runs:
        summary = run["summary"]
        print(
            f"checkov {run['check_type']}: {summary['passed']} passed, {summary['failed']} failed, "
            f"{summary['skipped']} skipped"
        )
        for check in run["results"].get("failed_checks", []):
            ok = False
            print(f"  FAILED {check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}")
        for check in run["results"].get("skipped_checks", []):
            skipped[_key(check)] = check
            reason = check.get("suppress_comment") or (check.get("check_result") or {}).get("suppress_comment") or ""
            if not reason.strip():
                ok = False
                print(f"  SKIP WITHOUT REASON {check['check_id']} {check['resource']} ({check['file_path']})")

    failing_without_skips = {
        _key(check) for run in _runs(Path(unsuppressed_path)) for check in run["results"].get("failed_checks", [])
    }
    stale = sorted(set(skipped) - failing_without_skips)
    for check_id, file_path, resource in stale:
        ok = False
        print(f"  STALE SKIP {check_id} {resource} ({file_path}): the check passes without it; remove the skip")
    print(f"checkov skips: {len(skipped)} skipped, {len(skipped) - len(stale)} needed, {len(stale)} stale")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
