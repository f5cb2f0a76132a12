"""The inputs and outputs table of every Terraform module's README.md is the one
scripts/tf-docs.py renders from its variables.tf and outputs.tf (terraform-docs' markdown table)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from conftest import INFRA, TF, load_tf_dir, tf_blocks

_SPEC = importlib.util.spec_from_file_location("tf_docs", INFRA.parent / "scripts" / "tf-docs.py")
tf_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tf_docs)

MODULES = sorted(p for p in (TF / "modules").iterdir() if (p / "variables.tf").exists())


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_the_readme_table_is_the_generated_one(module):
    readme = module / "README.md"
    assert readme.exists(), f"{readme}: run scripts/tf-docs.py"
    assert readme.read_text() == tf_docs.updated_readme(module), f"{readme} is stale: run scripts/tf-docs.py"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_the_table_names_every_variable_and_output_with_its_default(module):
    """Checked against python-hcl2's reading of the module, not the generator's own."""
    files = load_tf_dir(module)
    inputs, outputs = tf_docs.render(module).split("## Outputs")
    variables = tf_blocks(files, "variable")
    rows = _rows(inputs)
    assert list(rows) == sorted(variables), "one row per variable, sorted by name"
    for name, body in variables.items():
        row = rows[name]
        assert row.endswith("| yes |") is ("default" not in body), name
        if "default" in body and body["default"] is None:
            assert row.endswith("| `null` | no |"), name
    assert list(_rows(outputs)) == sorted(tf_blocks(files, "output"))


def _rows(section: str) -> dict:
    """Table rows by name, without the header row."""
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return {line.split(" | ")[0][2:]: line for line in rows}


def test_a_new_variable_makes_the_table_stale(tmp_path):
    module = tmp_path / "platform"
    shutil.copytree(TF / "modules" / "platform", module)
    assert (module / "README.md").read_text() == tf_docs.updated_readme(module)
    with (module / "variables.tf").open("a") as f:
        f.write('\nvariable "extra" {\n  description = "An extra input."\n  type        = string\n  default     = "x|y"\n}\n')
    updated = tf_docs.updated_readme(module)
    assert updated != (module / "README.md").read_text()
    assert '| extra | An extra input. | `string` | `"x\\|y"` | no |' in updated
