"""Checks of the commands in README.md and docs/: fenced blocks, `compress` flags, make targets, scripts, pip lines.

Used by tests/test_readme.py and tests/test_docs.py (not a test module itself). A shell command is "checked" when
everything it names exists in this clone: the `compress` subcommand and each of its flags (`compress <cmd> --help`),
the Makefile target, the script and the flags it defines, the extras and the torch pin of a
`pip install`. Anything else is an unknown command, which fails the check: a block that cannot run fails.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL = {"bash", "sh", "shell", "console"}
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = ("<", ">", ">>", "2>", "2>&1")
PLACEHOLDER = re.compile(r"<[^<>]+>")
"""`<full SST-2 train.tsv>` in a research command: a value the reader supplies (always an argument)."""


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in FENCE.finditer(text)]


def indented_commands(text: str) -> list[str]:
    """The lines of 4-space indented blocks (less their first 4 spaces)."""
    lines, out = text.splitlines(), []
    in_fence = False
    for line in lines:
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence and line.startswith("    "):
            out.append(line[4:])
    return out


def shell_commands(body: str) -> list[list[str]]:
    """The simple commands of a shell block: continuation lines joined, comments dropped, split at | && ; and
    with redirections (`< file`, `> file`) removed."""
    text = PLACEHOLDER.sub("PLACEHOLDER", body.replace("\\\n", " "))
    commands: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        skip_next = False
        for token in lexer:
            if skip_next:
                skip_next = False
                continue
            if token in SEPARATORS:
                if words:
                    commands.append(words)
                words = []
            elif token in REDIRECTS or token in ("<<", ">&"):
                skip_next = True
            else:
                words.append(token)
        if words:
            commands.append(words)
    return commands


@cache
def compress_help(*command: str) -> str:
    from asdfd.cli import main

    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"compress {' '.join(command)} --help failed: {result.output}"
    return result.output


def compress_commands() -> set[str]:
    from asdfd.cli import main

    return set(main.commands)  # type: ignore[attr-defined]


def _has_flag(help_text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


@cache
def script_flags(script: str) -> set[str]:
    """The options a script defines: every quoted "--flag" in its source (argparse's add_argument calls). Read, not
    run, so the check is fast and needs none of the script's imports."""
    return set(re.findall(r"""["'](--[\w-]+)["']""", (ROOT / script).read_text(encoding="utf-8")))


@cache
def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.M)}


@cache
def torch_pin() -> str:
    match = re.search(r"pip install --quiet (torch==\S+)", (ROOT / "Makefile").read_text(encoding="utf-8"))
    assert match, "the Makefile no longer pins torch"
    return match.group(1)


@cache
def pyproject_extras() -> set[str]:
    """The extras of pyproject.toml's [project.optional-dependencies] (read without tomllib: Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*=", section, re.M))


def _flags(words: list[str]) -> list[str]:
    return [w.split("=", 1)[0] for w in words if w.startswith("-") and w not in ("-", "--")]


def check_compress(words: list[str]) -> list[str]:
    """Problems with one `compress ...` (or `python -m asdfd.cli ...`) command line."""
    global_help = compress_help()
    rest = words[1:]
    while rest and rest[0].startswith("-"):
        if not _has_flag(global_help, rest[0]):
            return [f"`{' '.join(words)}`: compress has no option {rest[0]}"]
        rest = rest[1:]
    if not rest:
        return []
    command = rest[0]
    if command not in compress_commands():
        return [f"`{' '.join(words)}`: no command `compress {command}`"]
    help_text = compress_help(command)
    problems = [
        f"`{' '.join(words)}`: `compress {command}` has no option {flag}"
        for flag in _flags(rest[1:])
        if not _has_flag(help_text, flag) and not _has_flag(global_help, flag)
    ]
    prefix = "" if command == "run" else f"{command}."
    for flag, value in zip(rest, rest[1:]):
        path = value.split("=", 1)[0]
        if flag == "--set" and f"`{prefix}{path}`" not in options_page():
            problems.append(f"`{' '.join(words)}`: no option {prefix}{path} in docs/options.md")
    return problems


@cache
def options_page() -> str:
    return (ROOT / "docs" / "options.md").read_text(encoding="utf-8")


def check_python(words: list[str]) -> list[str]:
    """`python script.py --flags`: the script exists and its --help lists every flag; `python -m asdfd.cli`."""
    args = words[1:]
    if args[:2] == ["-m", "asdfd.cli"]:
        return check_compress(["compress", *args[2:]])
    if args and args[0] in ("-m",) and len(args) > 1 and args[1] == "pytest":
        return []
    if not args or args[0].startswith("-"):
        return [f"`{' '.join(words)}`: not a script run"]
    script = args[0]
    if not (ROOT / script).is_file():
        return [f"`{' '.join(words)}`: {script} does not exist in this repository"]
    flags = script_flags(script)
    return [f"`{' '.join(words)}`: {script} has no option {f}" for f in _flags(args[1:]) if f not in flags]


def check_pip(words: list[str]) -> list[str]:
    if words[1:2] != ["install"]:
        return [f"`{' '.join(words)}`: only `pip install` is expected"]
    extras = pyproject_extras()
    problems = []
    args = iter(words[2:])
    for arg in args:
        if arg in ("--index-url", "--extra-index-url"):
            next(args, None)
        elif arg.startswith("-"):
            continue
        elif arg.startswith("torch"):
            if arg != torch_pin():
                problems.append(f"`{' '.join(words)}`: the Makefile installs {torch_pin()}")
        elif arg.startswith("."):
            match = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", arg)
            if not match:
                problems.append(f"`{' '.join(words)}`: cannot read {arg}")
            else:
                names = [e for e in (match.group(1) or "").split(",") if e]
                problems += [f"`{' '.join(words)}`: no extra {e!r} in pyproject.toml" for e in names if e not in extras]
        else:
            problems.append(f"`{' '.join(words)}`: installs {arg}, which is not this repository")
    return problems


def check_command(words: list[str]) -> list[str]:
    """Problems with one simple command (empty: it names only what exists here)."""
    if not words:
        return []
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefix
        words = words[1:]
    name = Path(words[0]).name
    if name == "compress":
        return check_compress(words)
    if name in ("python", "python3") or words[0].endswith("/bin/python"):
        return check_python(words)
    if name == "torchrun":
        if "-m" in words and words[words.index("-m") + 1 : words.index("-m") + 2] == ["asdfd.cli"]:
            return check_compress(["compress", *words[words.index("-m") + 2 :]])
        return [f"`{' '.join(words)}`: torchrun of something else than asdfd.cli"]
    if name in ("pip", "pip3"):
        return check_pip(words)
    if name == "make":
        return [f"`{' '.join(words)}`: no make target {t!r}" for t in words[1:] if t not in make_targets()]
    if name == "bash" and len(words) > 1:
        script = words[1]
        return [] if (ROOT / script).is_file() else [f"`{' '.join(words)}`: {script} does not exist"]
    if name in ("curl", "git", "cd", "mkdir", "printf", "echo", "cat", "export"):
        return []
    return [f"`{' '.join(words)}`: unknown command {words[0]!r} (teach tests/doc_blocks.py to check it)"]
