"""docs/ stays true: the options page is generated from the config docstrings, every command runs from a clone
(no `../shared`, every `compress` flag, script and make target exists), and every relative link resolves."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tests.doc_blocks import ROOT, SHELL, check_command, fenced_blocks, indented_commands, shell_commands

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS, ROOT / "benchmarks" / "README.md"]
COMMAND_START = re.compile(r"^(\.venv/bin/)?(compress|python3?|make|bash|torchrun|pip)\b")
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_options_page_is_generated_from_the_configs():
    generated = runpy.run_path(str(ROOT / "docs" / "gen_options.py"))["render"]()
    current = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
    assert generated == current, "docs/options.md is stale: run .venv/bin/python docs/gen_options.py > docs/options.md"
    for section in ("`distill`", "`distill.student`", "`export`", "`export.validation`", "`bench`"):
        assert f"## {section}" in current


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_pages_read_nothing_outside_the_clone(page):
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text, f"{_name(page)} points outside the repository"


def _commands(page: Path) -> list[list[str]]:
    text = page.read_text(encoding="utf-8")
    bodies = [body for lang, body in fenced_blocks(text) if lang in SHELL or lang == ""]
    bodies.append("\n".join(line for line in _joined(indented_commands(text))))
    commands = [words for body in bodies for words in shell_commands(body)]
    return [words for words in commands if COMMAND_START.match(" ".join(words))]


def _joined(lines: list[str]) -> list[str]:
    """Indented lines with their `\\` continuations, only those that start a command."""
    out: list[str] = []
    keep = False
    for line in lines:
        if keep:
            out.append(line)
        elif COMMAND_START.match(line.strip()):
            out.append(line.strip())
        else:
            continue
        keep = line.rstrip().endswith("\\")
    return out


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_commands_name_only_what_exists(page):
    problems = [problem for words in _commands(page) for problem in check_command(words)]
    assert not problems, f"{_name(page)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    missing = [
        target for target, _ in LINK.findall(text) if "://" not in target and not (page.parent / target).exists()
    ]
    assert not missing, f"{_name(page)} links to missing files: {missing}"
