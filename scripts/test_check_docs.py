#!/usr/bin/env python3
"""Tests of scripts/check-docs.py: each rule fails on a small tree that breaks it, and a tree
that keeps every rule passes.

    python3 -m unittest scripts/test_check_docs.py
"""

import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

CHECK = Path(__file__).resolve().parent / "check-docs.py"

# A stand-in for the compiled CLI: clap 4's --help layout, one command with subcommands.
FAKE_CLI = '''#!/usr/bin/env python3
import sys
args = [a for a in sys.argv[1:] if a != "--help"]
top = {"validate": "Check a manifest offline; lists every problem.",
       "promote-release": "Release in another environment exactly what succeeded in one:\\n          the same digests",
       "promote": "Reroute production traffic."%s}
if not args:
    print("Operate berth releases\\n\\nUsage: berth <COMMAND>\\n\\nCommands:")
    for name, about in top.items():
        print(f"  {name:<16} {about}")
    print("  help             Print this message or the help of the given subcommand(s)")
    print("\\nOptions:\\n  -h, --help     Print help\\n  -V, --version  Print version")
elif args == ["group"] and %s:
    print("Groups\\n\\nUsage: berth group <COMMAND>\\n\\nCommands:\\n  list  List them\\n  help  Print help\\n\\nOptions:\\n  -h, --help  Print help")
elif args[0] in top:
    print(f"{top[args[0]]}\\n\\nUsage: berth {args[0]} [OPTIONS]\\n\\nOptions:\\n  -h, --help  Print help")
else:
    sys.exit(2)
'''

CLI_DOC = """\
# The berth command

## `berth validate`

## berth promote-release

### `berth promote <service>`
"""

ENV_DOC = """\
# Environment variables

| variable | meaning |
|---|---|
| `BERTH_RELEASE_BUCKET` | the bucket |
"""

SUMMARY = """\
# Summary

[Introduction](introduction.md)

# Guide

- [Concepts](guide/concepts.md)
  - [Deeper](guide/deeper.md)

# Reference

- [CLI](reference/cli.md)
- [Environment](reference/environment.md)
"""


class Tree:
    """A temporary repository that passes every rule until a test changes it."""

    def __init__(self, test):
        self._dir = tempfile.TemporaryDirectory()
        test.addCleanup(self._dir.cleanup)
        self.root = Path(self._dir.name)
        self.write("README.md", "# berth\n\nSee [the book](docs/SUMMARY.md) and "
                                "[concepts](docs/guide/concepts.md#how-a-release-flows).\n")
        self.write("docs/book.toml", '[book]\ntitle = "berth"\nsrc = "."\n')
        self.write("docs/SUMMARY.md", SUMMARY)
        self.write("docs/introduction.md", "# Introduction\n\n[Concepts](guide/concepts.md)\n")
        self.write("docs/guide/concepts.md",
                   "# Concepts\n\n## How a release flows\n\nText.\n\n"
                   "See [the CLI](../reference/cli.md#berth-validate).\n")
        self.write("docs/guide/deeper.md", "# Deeper\n")
        self.write("docs/reference/cli.md", CLI_DOC)
        self.write("docs/reference/environment.md", ENV_DOC)
        self.write("shared/src/settings.rs",
                   'fn f() { std::env::var("BERTH_RELEASE_BUCKET"); }\n')
        self.cli = self.fake_cli()

    def write(self, rel, text):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def fake_cli(self, extra="", nested=False):
        extra_entry = f', "{extra}": "An extra command."' if extra else ""
        if nested:
            extra_entry += ', "group": "Groups of things."'
        path = self.write("bin/berth", FAKE_CLI % (extra_entry, "True" if nested else "False"))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def check(self, cli=None):
        env = dict(os.environ)
        env["BERTH_CLI"] = str(cli or self.cli)
        done = subprocess.run([sys.executable, str(CHECK), "--root", str(self.root)],
                              capture_output=True, text=True, env=env, timeout=120)
        return done.returncode, done.stdout + done.stderr


class CheckDocsTest(unittest.TestCase):
    def assert_passes(self, tree, cli=None):
        code, out = tree.check(cli)
        self.assertEqual(code, 0, out)
        self.assertIn(": ok", out)
        return out

    def assert_fails(self, tree, *expected, cli=None):
        code, out = tree.check(cli)
        self.assertNotEqual(code, 0, out)
        for e in expected:
            self.assertIn(e, out)
        return out

    def test_a_correct_tree_passes_and_says_what_it_checked(self):
        out = self.assert_passes(Tree(self))
        self.assertRegex(out, r"docs: 7 files, \d+ links checked, 3 subcommands, 1 variables: ok")

    def test_a_link_to_a_missing_file_fails(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md", "# Deeper\n\n[gone](../reference/nowhere.md)\n")
        self.assert_fails(tree, "docs/guide/deeper.md:3", "../reference/nowhere.md does not exist")

    def test_a_link_to_a_missing_anchor_fails(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md", "# Deeper\n\n[x](concepts.md#how-releases-flow)\n")
        self.assert_fails(tree, "no heading or anchor #how-releases-flow")

    def test_a_link_whose_text_spans_lines_is_checked(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md", "# Deeper\n\nSee [the\nconcepts](concepts.md#nowhere).\n")
        self.assert_fails(tree, "docs/guide/deeper.md:4", "#nowhere")

    def test_a_missing_anchor_in_the_same_file_fails(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md", "# Deeper\n\n[up](#deepest)\n")
        self.assert_fails(tree, "#deepest")

    def test_duplicate_headings_are_numbered_and_resolve(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\n## Example\n\n## Example\n\n## Example\n\n"
                   "[a](#example) [b](#example-1) [c](#example-2)\n")
        self.assert_passes(tree)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\n## Example\n\n## Example\n\n[d](#example-2)\n")
        self.assert_fails(tree, "#example-2")

    def test_slugs_drop_punctuation_and_code_marks(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\n## 1. Build the functions\n\n### `berth release` (and --wait)\n\n"
                   "## Notifications: SNS and Slack (optional)\n\n"
                   "[a](#1-build-the-functions) [b](#berth-release-and---wait) "
                   "[c](#notifications-sns-and-slack-optional)\n")
        self.assert_passes(tree)

    def test_explicit_anchors_count(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   '# Deeper\n\n<a id="exit-codes"></a>\n<a name="old-name"></a>\n\n'
                   "[a](#exit-codes) [b](deeper.md#old-name)\n")
        self.assert_passes(tree)

    def test_links_in_code_blocks_and_inline_code_are_not_checked(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\n```md\n[broken](nowhere.md)\n```\n\n"
                   "~~~\n[broken](nowhere.md#x)\n~~~\n\n"
                   "Write `[text](nowhere.md)` for a link; ``[a](b.md)`` too.\n")
        self.assert_passes(tree)

    def test_inline_code_wrapped_across_lines_is_not_checked(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\nRun `berth validate\n[x](nowhere.md)` first.\n\n"
                   "A stray ` tick here.\n\n[broken](nowhere.md)\n")
        self.assert_fails(tree, "docs/guide/deeper.md:8")
        out = tree.check()[1]
        self.assertNotIn("deeper.md:4", out)

    def test_links_with_a_scheme_are_not_checked(self):
        tree = Tree(self)
        tree.write("docs/guide/deeper.md",
                   "# Deeper\n\n[aws](https://docs.aws.amazon.com/x#y) [m](mailto:a@b.c)\n")
        self.assert_passes(tree)

    def test_links_in_infra_readme_are_checked(self):
        tree = Tree(self)
        tree.write("infra/README.md", "# infra\n\n[start](../docs/guide/getting-started.md)\n")
        self.assert_fails(tree, "infra/README.md:3")

    def test_directories_left_out_are_not_read(self):
        tree = Tree(self)
        for d in ["target", "vendor/x", ".venv", ".tools", "node_modules"]:
            tree.write(f"{d}/notes.md", "[broken](nowhere.md)\n")
        self.assert_passes(tree)

    def test_an_undocumented_subcommand_fails(self):
        tree = Tree(self)
        cli = tree.fake_cli(extra="prune")
        self.assert_fails(tree, "no heading for `berth prune`", cli=cli)

    def test_a_subcommand_is_not_documented_by_a_longer_one(self):
        tree = Tree(self)
        tree.write("docs/reference/cli.md",
                   "# The berth command\n\n## `berth validate`\n\n## berth promote-release\n")
        self.assert_fails(tree, "no heading for `berth promote`")

    def test_nested_subcommands_must_be_documented(self):
        tree = Tree(self)
        cli = tree.fake_cli(nested=True)
        tree.write("docs/reference/cli.md", CLI_DOC + "\n## berth group\n")
        self.assert_fails(tree, "no heading for `berth group list`", cli=cli)
        tree.write("docs/reference/cli.md", CLI_DOC + "\n## berth group\n\n### berth group list\n")
        self.assert_passes(tree, cli=cli)

    def test_a_missing_cli_binary_fails_saying_to_build_it(self):
        tree = Tree(self)
        self.assert_fails(tree, "build it first", cli=tree.root / "target/debug/berth")

    def test_an_undocumented_berth_variable_fails(self):
        tree = Tree(self)
        tree.write("cli/src/common.rs", 'fn f() { std::env::var("BERTH_ACCOUNT_ID"); }\n')
        tree.write("functions/migrate/src/main.rs", 'const X: &str = "BERTH_NEW_KNOB";\n')
        self.assert_fails(tree, "BERTH_ACCOUNT_ID is read by the code but not documented",
                          "BERTH_NEW_KNOB")

    def test_a_variable_is_not_documented_by_a_longer_name(self):
        tree = Tree(self)
        tree.write("shared/src/pipeline.rs", 'const V: &str = "BERTH_RELEASE";\n')
        self.assert_fails(tree, "BERTH_RELEASE is read")

    def test_variables_only_in_tests_are_not_required(self):
        tree = Tree(self)
        tree.write("shared/src/store.rs",
                   'fn f() {}\n\n#[cfg(test)]\nmod tests {\n    const T: &str = "BERTH_ONLY_TESTS";\n}\n')
        tree.write("shared/src/registry/tests.rs", 'const T: &str = "BERTH_IN_TESTS_RS";\n')
        tree.write("core/src/doctor/tests/mod.rs", 'const T: &str = "BERTH_IN_TESTS_DIR";\n')
        tree.write("tests/src/moto.rs", 'const T: &str = "BERTH_MOTO_SERVER";\n')
        self.assert_passes(tree)

    def test_a_page_missing_from_summary_fails(self):
        tree = Tree(self)
        tree.write("docs/design/contract.md", "# Contract\n")
        self.assert_fails(tree, "docs/design/contract.md is not listed in docs/SUMMARY.md")

    def test_a_summary_entry_without_its_page_fails(self):
        tree = Tree(self)
        tree.write("docs/SUMMARY.md", SUMMARY + "\n# Design\n\n- [Contract](design/contract.md)\n")
        self.assert_fails(tree, "entry 'Contract': design/contract.md does not exist")

    def test_a_readme_over_the_limit_fails(self):
        tree = Tree(self)
        tree.write("README.md", "# berth\n\n" + "word " * 2100 + "\n")
        self.assert_fails(tree, "README.md is", "over 10240")

    def test_every_problem_is_listed_at_once(self):
        tree = Tree(self)
        tree.write("README.md", "# berth\n\n[x](docs/missing.md)\n" + "word " * 2100)
        tree.write("docs/orphan.md", "# Orphan\n")
        out = self.assert_fails(tree, "docs/missing.md does not exist", "docs/orphan.md is not listed",
                                "over 10240")
        self.assertIn("3 problem(s)", out)


if __name__ == "__main__":
    unittest.main()
