"""README.md cannot drift from the code: every code block in it runs or is checked here.

`python` blocks run in order, in one namespace, in a scratch folder where `artifacts/teacher-sst2` is the tiny
teacher of tests/conftest.py and `data/sst2/dev.tsv` a tiny labelled file; the only edits are SPEEDUPS (a few
steps instead of 330 s), each of which must still match the README. Shell blocks: every `compress` flag and
`--set` path, make target, script and its flags, and pip line must exist in this clone (tests/doc_blocks.py).
`js` blocks run in Node (tests/test_js.py). A block in any other language fails.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from tests.doc_blocks import ROOT, SHELL, check_command, fenced_blocks, shell_commands

README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = fenced_blocks(TEXT)

TINY_DISTILL = (
    "steps=6, max_seconds=None, batch_size=4, threads=1, log_every=2, eval_every=3, checkpoint_every=3, "
    "heldout_random=8, min_length=4, max_length=10, show_progress=False"
)
TINY_BENCH = (
    "batch_sizes=(1,), seq_lens=(8,), warmup=1, min_repeats=2, max_repeats=3, max_seconds_per_cell=1.0, "
    'teacher_onnx=("none",), saturation_texts=8, throughput_batch_size=4, threads=1, show_progress=False, '
)
SPEEDUPS = {
    'DistillConfig.for_budget("fast")': f'DistillConfig.for_budget("fast", {TINY_DISTILL})',
    'ExportConfig(quantize="int8")': 'ExportConfig(quantize="int8", max_length=32, show_progress=False)',
    "BenchConfig(": f"BenchConfig({TINY_BENCH}",
}
"""README text -> what runs instead on the tiny teacher (same calls, fewer steps and repeats)."""


def test_readme_is_short():
    size = len(TEXT.encode("utf-8"))
    assert size <= 10 * 1024, f"README.md is {size} bytes: keep it under 10 KB, move detail to docs/"


def test_readme_never_reads_outside_the_clone():
    assert "../shared" not in TEXT and "/work/" not in TEXT
    assert "pip install asdfd" not in TEXT, "asdfd is not on PyPI: install from the repository"


def test_every_block_has_a_checked_language():
    assert BLOCKS, "README.md has no code blocks?"
    unknown = [lang or "(none)" for lang, _ in BLOCKS if lang not in SHELL | {"python", "js"}]  # js: tests/test_js.py
    assert not unknown, f"README blocks that no test runs or checks: {unknown}"


def test_shell_blocks_name_only_what_exists():
    commands = [words for lang, body in BLOCKS if lang in SHELL for words in shell_commands(body)]
    assert any(words[0] == "compress" for words in commands)
    problems = [problem for words in commands for problem in check_command(words)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_drift():
    """The shell checks fail on what README once said (`--resume`, `pip install asdfd`) and on typos."""
    for line in (
        "compress run --teacher t --out s.onnx --resume",
        "compress distil --teacher t",
        "pip install asdfd",
        'pip install ".[gpu]"',
        "make demos",
        "python examples/train_teacher.py",
        "python examples/serve_http.py --model s.onnx --workers 2",
        "rsync -a ../shared/data .",
        "compress run --teacher t --out s.onnx --set distill.no_such_field=1",
    ):
        problems = [p for words in shell_commands(line) for p in check_command(words)]
        assert problems, f"not caught: {line}"
    assert not [p for words in shell_commands("compress -q run --teacher t --out s.onnx") for p in check_command(words)]


def _python_source() -> str:
    source = "\n\n".join(body for lang, body in BLOCKS if lang == "python")
    for text, replacement in SPEEDUPS.items():
        assert text in source, f"README no longer contains {text!r}: update SPEEDUPS in tests/test_readme.py"
        source = source.replace(text, replacement)
    return source


def test_python_blocks_run(tmp_path, tiny_teacher_dir, tiny_labelled_tsv):
    """Distill, export, bench and classify exactly as README shows, on the tiny teacher (about 15 s)."""
    source = _python_source()
    shutil.copytree(tiny_teacher_dir, tmp_path / "artifacts" / "teacher-sst2")
    (tmp_path / "data" / "sst2").mkdir(parents=True)
    shutil.copy(tiny_labelled_tsv, tmp_path / "data" / "sst2" / "dev.tsv")
    cwd = Path.cwd()
    printed = io.StringIO()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, str(README), "exec"), {"__name__": "__readme__"})  # noqa: S102
    finally:
        os.chdir(cwd)
    assert (tmp_path / "student.onnx").is_file() and (tmp_path / "report" / "report.md").is_file()
    assert "student" in printed.getvalue()
