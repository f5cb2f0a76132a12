#!/usr/bin/env python3
"""Writes the inputs and outputs table of every Terraform module into its README.md, between
<!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->, as terraform-docs' markdown table renders them
(Inputs: Name | Description | Type | Default | Required; Outputs: Name | Description), sorted
by name as its default configuration sorts them.

    scripts/tf-docs.py           rewrite the tables
    scripts/tf-docs.py --check   exit 1 and name the stale READMEs, change nothing

Standard library only: it reads variables.tf and outputs.tf itself (each block's description,
type and default as written, multi-line values as terraform-docs' <pre> blocks)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "infra" / "terraform" / "modules"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
_BLOCK = re.compile(r'^(variable|output) "([^"]+)" \{$', re.M)


def _closing(text: str, start: int) -> int:
    """Index just past the bracket closing the one opened before start (strings skipped)."""
    depth, i = 1, start
    while depth:
        c = text[i]
        if c == '"':
            i += 1
            while text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "#":
            i = text.index("\n", i)
            continue
        elif c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        i += 1
    return i


def _attributes(body: str) -> dict[str, str]:
    """Top-level `name = expression` of a block body, expressions as written (nested blocks such
    as validation are skipped)."""
    out, i = {}, 0
    pattern = re.compile(r"^  ([a-z_]+)\s*(=|\{)\s*", re.M)
    while (m := pattern.search(body, i)) is not None:
        start = m.end()
        if m.group(2) == "{":
            i = _closing(body, start)
            continue
        j = start
        while j < len(body) and body[j] != "\n":
            if body[j] in "{([":
                j = _closing(body, j + 1)
                continue
            if body[j] == '"':
                j = _closing_quote(body, j)
                continue
            j += 1
        out[m.group(1)] = body[start:j].rstrip()
        i = j
    return out


def _closing_quote(text: str, start: int) -> int:
    i = start + 1
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1


def blocks(path: Path, kind: str) -> list[tuple[str, dict[str, str]]]:
    text = path.read_text()
    out = []
    for m in _BLOCK.finditer(text):
        if m.group(1) == kind:
            body = text[m.end() : _closing(text, m.end()) - 1]
            out.append((m.group(2), _attributes(body)))
    return out


def _cell(expression: str) -> str:
    """A type or default as terraform-docs prints it: `code` on one line, <pre> when multi-line."""
    lines = [line for line in expression.split("\n")]
    if len(lines) == 1:
        return "`" + expression.replace("|", "\\|") + "`"
    indent = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()), default=0)
    lines = [lines[0]] + [line[max(indent - 2, 0) :] for line in lines[1:]]
    return "<pre>" + "<br>".join(line.replace("|", "\\|") for line in lines) + "</pre>"


def _description(attributes: dict[str, str]) -> str:
    raw = attributes.get("description", '""')
    return json.loads(raw).replace("|", "\\|").replace("\n", "<br>")


def render(module: Path) -> str:
    """The terraform-docs section of one module."""
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|------|-------------|------|---------|:--------:|"]
    for name, attributes in sorted(blocks(module / "variables.tf", "variable")):
        required = "default" not in attributes
        default = "n/a" if required else _cell(attributes["default"])
        lines.append(f"| {name} | {_description(attributes)} | {_cell(attributes['type'])} | {default} | {'yes' if required else 'no'} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, attributes in sorted(blocks(module / "outputs.tf", "output")):
        lines.append(f"| {name} | {_description(attributes)} |")
    return "\n".join(lines)


def updated_readme(module: Path) -> str:
    """README.md of the module with its table replaced (or the README started, if none)."""
    readme = module / "README.md"
    text = readme.read_text() if readme.exists() else f"# Terraform module: {module.name}\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{render(module)}\n{END}{after}"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for module in sorted(p for p in MODULES.iterdir() if (p / "variables.tf").exists()):
        readme = module / "README.md"
        want = updated_readme(module)
        if readme.exists() and readme.read_text() == want:
            continue
        stale.append(readme.relative_to(ROOT))
        if not check:
            readme.write_text(want)
    if check and stale:
        print("tf-docs: stale, run scripts/tf-docs.py: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    for path in stale:
        print(f"tf-docs: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
