#!/usr/bin/env python3
"""The documentation check `make test` runs. It fails, listing every problem, when:

- a relative link in a Markdown file (README.md, infra/README.md, docs/**/*.md, any other
  *.md outside target/, vendor/, .venv/, .tools/, node_modules/) names a file that does not
  exist, or an #anchor that matches no heading (GitHub and mdBook slugs; duplicates get -1,
  -2, ...) and no <a id> / <a name> of the target; links in fenced code and inline code,
  and links with a scheme (https:, mailto:, ...), are not checked;
- a subcommand of the compiled `berth` CLI (BERTH_CLI, default target/debug/berth; read from
  its --help) has no heading containing `berth <subcommand>` in docs/reference/cli.md;
- a BERTH_* environment variable the Rust sources read (a "BERTH_..." string literal in
  shared/src, core/src, cli/src, functions/*/src; tests.rs files, tests/ directories and
  everything after #[cfg(test)] left out) is not named in docs/reference/environment.md;
- a page of docs/ is missing from docs/SUMMARY.md, or a SUMMARY entry names no file;
- README.md is larger than 10,240 bytes.

Python 3 standard library only.

    scripts/check-docs.py [--root DIR]
"""

import argparse
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

SKIP_DIRS = {"target", "vendor", ".venv", ".tools", "node_modules", ".git", "dist", "__pycache__"}
README_LIMIT = 10_240
CLI_DOC = Path("docs/reference/cli.md")
ENV_DOC = Path("docs/reference/environment.md")
SUMMARY = Path("docs/SUMMARY.md")
SOURCE_DIRS = ["shared/src", "core/src", "cli/src"]
ENV_LITERAL = re.compile(r'"(BERTH_[A-Z0-9_]+)"')
CFG_TEST = re.compile(r"^\s*#\[cfg\(test\)\]")


# ---------------------------------------------------------------- Markdown reading

FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def prose_lines(text):
    """The file's lines with fenced code blocks blanked (numbering kept)."""
    out = []
    fence = None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence is None:
            if m and not (m.group(1)[0] == "`" and "`" in line[m.end():]):
                fence = m.group(1)
                out.append("")
                continue
            out.append(line)
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                    and line[m.end():].strip() == "":
                fence = None
            out.append("")
    return out


def without_inline_code(line):
    """`line` (or a paragraph) with every inline code span blanked out, line breaks kept."""
    out = []
    i = 0
    while i < len(line):
        if line[i] != "`":
            out.append(line[i])
            i += 1
            continue
        j = i
        while j < len(line) and line[j] == "`":
            j += 1
        ticks = j - i
        k = j
        close = -1
        while k < len(line):
            if line[k] == "`":
                e = k
                while e < len(line) and line[e] == "`":
                    e += 1
                if e - k == ticks:
                    close = k
                    break
                k = e
            else:
                k += 1
        if close < 0:
            out.append(line[i:j])
            i = j
        else:
            out.append(re.sub(r"[^\n]", " ", line[i:close + ticks]))
            i = close + ticks
    return "".join(out)


ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
NOT_PARAGRAPH = re.compile(r"^\s*$|^ {0,3}([#>|]|[-*+][ \t]|\d+[.)][ \t])")


def headings(lines):
    """Heading texts, in order (ATX and setext)."""
    found = []
    for i, line in enumerate(lines):
        m = ATX.match(line)
        if m:
            found.append((m.group(2) or "").strip())
            continue
        if i > 0 and SETEXT.match(line) and not NOT_PARAGRAPH.match(lines[i - 1]) \
                and not ATX.match(lines[i - 1]) and not SETEXT.match(lines[i - 1]):
            found.append(lines[i - 1].strip())
    return found


def plain(heading):
    """A heading's text as it renders: markup removed."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = text.replace("`", "")
    text = re.sub(r"(?<![\w*])(\*{1,3})(\S(?:.*?\S)?)\1(?![\w*])", r"\2", text)
    text = re.sub(r"(?<!\w)(_{1,3})(\S(?:.*?\S)?)\1(?!\w)", r"\2", text)
    return text.strip()


def slug(heading):
    """GitHub's and mdBook's anchor for a heading: lowercase, punctuation other than - and _
    dropped, spaces to -."""
    text = plain(heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


EXPLICIT_ANCHOR = re.compile(r"""<a\s[^>]*?\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)


def anchors(text):
    """Every anchor a file offers: its headings' slugs (duplicates numbered) and explicit ones."""
    lines = prose_lines(text)
    seen = {}
    found = set()
    for h in headings(lines):
        base = slug(h)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    for line in lines:
        found.update(EXPLICIT_ANCHOR.findall(line))
    return found


INLINE_LINK = re.compile(
    r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*(?:\([^)\s]*\)[^)\s]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>]*>|\S+)", re.M)
HTML_LINK = re.compile(r"""<(?:a|img)\s[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def links(text):
    """(line number, target) of every link outside code; a link's text may span lines."""
    # Code spans may wrap across lines, but never across a blank line (a block boundary).
    blocks = re.split(r"(\n[ \t]*\n)", "\n".join(prose_lines(text)))
    prose = "".join(b if i % 2 else without_inline_code(b) for i, b in enumerate(blocks))
    found = []
    for pattern in (INLINE_LINK, REFERENCE_DEF, HTML_LINK):
        for m in pattern.finditer(prose):
            target = m.group(1).strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found.append((prose.count("\n", 0, m.start(1)) + 1, target))
    found.sort()
    return found


# ---------------------------------------------------------------- the checks

def markdown_files(root):
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for f in sorted(filenames):
            if f.endswith(".md"):
                files.append(Path(dirpath) / f)
    return files


def check_links(root, files, problems):
    """Relative links and their anchors; returns how many links were checked."""
    cache = {}

    def anchors_of(path):
        if path not in cache:
            cache[path] = anchors(path.read_text(encoding="utf-8", errors="replace"))
        return cache[path]

    checked = 0
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        rel = f.relative_to(root)
        for n, target in links(text):
            if not target or SCHEME.match(target) or target.startswith("//"):
                continue
            checked += 1
            path_part, _, anchor = target.partition("#")
            path_part = urllib.parse.unquote(path_part.split("?", 1)[0])
            anchor = urllib.parse.unquote(anchor)
            if path_part == "":
                dest = f
            elif path_part.startswith("/"):
                dest = root / path_part.lstrip("/")
            else:
                dest = f.parent / path_part
            dest = Path(os.path.normpath(dest))
            if not dest.exists():
                problems.append(f"{rel}:{n}: link to {target}: {path_part} does not exist")
                continue
            if not anchor:
                continue
            if dest.is_dir():
                problems.append(f"{rel}:{n}: link to {target}: #{anchor} on a directory")
            elif dest.suffix == ".md" and anchor not in anchors_of(dest):
                where = dest.relative_to(root) if dest.is_relative_to(root) else dest
                problems.append(f"{rel}:{n}: link to {target}: no heading or anchor "
                                f"#{anchor} in {where}")
    return checked


SUMMARY_ENTRY = re.compile(r"^\s*(?:[-*+]\s+)?\[([^\]]*)\]\(([^)]*)\)\s*$")


def book_src(root):
    """The book's source directory, from docs/book.toml (`src`, default ".")."""
    toml = root / "docs" / "book.toml"
    src = "."
    if toml.exists():
        m = re.search(r'^\s*src\s*=\s*"([^"]*)"', toml.read_text(encoding="utf-8"), re.M)
        if m:
            src = m.group(1)
    return root / "docs" / src


def check_summary(root, problems):
    docs = root / "docs"
    if not docs.is_dir():
        return
    summary = root / SUMMARY
    if not summary.exists():
        problems.append(f"{SUMMARY} is missing: the book's table of contents")
        return
    src = book_src(root)
    listed = set()
    for n, line in enumerate(prose_lines(summary.read_text(encoding="utf-8")), start=1):
        m = SUMMARY_ENTRY.match(line)
        if not m:
            continue
        title, target = m.group(1), m.group(2).strip()
        if not target:
            problems.append(f"{SUMMARY}:{n}: entry {title!r} names no file")
            continue
        page = Path(os.path.normpath(src / urllib.parse.unquote(target.split("#", 1)[0])))
        if not page.is_file():
            problems.append(f"{SUMMARY}:{n}: entry {title!r}: {target} does not exist")
        listed.add(page)
    for page in markdown_files(docs):
        if page == Path(os.path.normpath(summary)):
            continue
        if Path(os.path.normpath(page)) not in listed:
            problems.append(f"{page.relative_to(root)} is not listed in {SUMMARY}")


def run_help(cli, args):
    try:
        done = subprocess.run([str(cli), *args, "--help"], capture_output=True, text=True,
                              timeout=60)
    except OSError as e:
        return None, f"{cli} {' '.join(args)} --help could not run: {e}"
    except subprocess.TimeoutExpired:
        return None, f"{cli} {' '.join(args)} --help did not answer within 60 s"
    if done.returncode != 0:
        return None, (f"{cli} {' '.join(args)} --help exited {done.returncode}: "
                      f"{done.stderr.strip()[:300]}")
    return done.stdout, None


def commands_in(help_text):
    """The subcommands a clap 4 --help lists under "Commands:" (help left out)."""
    names = []
    inside = False
    for line in help_text.splitlines():
        if not inside:
            inside = line.strip() == "Commands:"
            continue
        if not line.strip() or not line.startswith(" "):
            break
        m = re.match(r"^ {1,4}([A-Za-z0-9][\w-]*)", line)
        if m and not re.match(r"^ {5,}", line) and m.group(1) != "help":
            names.append(m.group(1))
    return names


def cli_commands(cli, problems, path=(), depth=0):
    text, error = run_help(cli, list(path))
    if error:
        problems.append(error)
        return []
    found = []
    for name in commands_in(text):
        found.append(" ".join((*path, name)))
        if depth < 3:
            found.extend(cli_commands(cli, problems, (*path, name), depth + 1))
    return found


def check_cli(root, problems):
    cli = os.environ.get("BERTH_CLI") or str(root / "target" / "debug" / "berth")
    if not Path(cli).is_file():
        problems.append(f"the berth CLI is not at {cli}: build it first "
                        f"(cargo build -p berth-cli) or point BERTH_CLI at it")
        return 0
    commands = cli_commands(cli, problems)
    doc = root / CLI_DOC
    if not doc.exists():
        problems.append(f"{CLI_DOC} is missing: it documents every berth subcommand")
        return len(commands)
    titles = [plain(h) for h in headings(prose_lines(doc.read_text(encoding="utf-8")))]
    for command in commands:
        wanted = re.compile(r"(?<![\w-])berth " + re.escape(command) + r"(?![\w-])")
        if not any(wanted.search(t) for t in titles):
            problems.append(f"{CLI_DOC}: no heading for `berth {command}`")
    return len(commands)


def rust_sources(root):
    dirs = [root / d for d in SOURCE_DIRS]
    functions = root / "functions"
    if functions.is_dir():
        dirs += sorted(p / "src" for p in functions.iterdir() if (p / "src").is_dir())
    for d in dirs:
        if not d.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(x for x in dirnames if x != "tests")
            for f in sorted(filenames):
                if f.endswith(".rs") and f != "tests.rs":
                    yield Path(dirpath) / f


def variables_read(root):
    """BERTH_* names the non-test Rust sources hold as string literals."""
    names = set()
    for f in rust_sources(root):
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if CFG_TEST.match(line):
                break
            names.update(ENV_LITERAL.findall(line))
    return names


def check_environment(root, problems):
    names = variables_read(root)
    doc = root / ENV_DOC
    if not doc.exists():
        if names:
            problems.append(f"{ENV_DOC} is missing: it documents {', '.join(sorted(names))}")
        return len(names)
    text = doc.read_text(encoding="utf-8")
    for name in sorted(names):
        if not re.search(r"(?<![A-Z0-9_])" + re.escape(name) + r"(?![A-Z0-9_])", text):
            problems.append(f"{ENV_DOC}: {name} is read by the code but not documented")
    return len(names)


def check_readme(root, problems):
    readme = root / "README.md"
    if readme.exists():
        size = readme.stat().st_size
        if size > README_LIMIT:
            problems.append(f"README.md is {size} bytes, over {README_LIMIT}: "
                            f"move detail into docs/")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the repository root (default: the parent of scripts/)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    problems = []
    files = markdown_files(root)
    checked = check_links(root, files, problems)
    check_summary(root, problems)
    commands = check_cli(root, problems)
    variables = check_environment(root, problems)
    check_readme(root, problems)
    if problems:
        print(f"docs: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"docs: {len(files)} files, {checked} links checked, {commands} subcommands, "
          f"{variables} variables: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
