"""Every bad input gets one clear line and exit 1 (2 for usage), never a traceback, and leaves nothing valid-looking.

One table: each case builds its inputs in a scratch folder, runs a `compress` command, and checks the exit code,
that the output is one line naming the problem, and that no output file or folder appeared.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from asdfd.cli import main

Setup = Callable[[Path, Path], list[str]]
"""(scratch folder, tiny teacher folder) -> the command's arguments."""


def _copy(teacher: Path, tmp: Path, name: str = "teacher") -> Path:
    folder = tmp / name
    if not folder.exists():
        shutil.copytree(teacher, folder)
    return folder


def _edit_json(folder: Path, name: str, value) -> Path:
    (folder / name).write_text(json.dumps(value), encoding="utf-8")
    return folder


def _no_head(teacher: Path, tmp: Path) -> Path:
    from safetensors.torch import load_file, save_file

    folder = _copy(teacher, tmp)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")}, folder / "model.safetensors")
    return folder


def _truncated(teacher: Path, tmp: Path) -> Path:
    folder = _copy(teacher, tmp)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    return folder


def _no_tokenizer(teacher: Path, tmp: Path) -> Path:
    folder = _copy(teacher, tmp)
    for path in folder.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "special_tokens")):
            path.unlink()
    return folder


def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _nan_head(teacher: Path, tmp: Path) -> Path:
    """A teacher whose classification head is NaN (what a diverged fine-tuning leaves)."""
    import torch
    from safetensors.torch import load_file, save_file

    folder = _copy(teacher, tmp)
    weights = load_file(folder / "model.safetensors")
    weights["classifier.weight"] = torch.full_like(weights["classifier.weight"], float("nan"))
    save_file(weights, folder / "model.safetensors")
    return folder


def _score_file(tmp: Path, bad_label: str) -> Path:
    rows = "".join(f"text number {i}\t{i / 10}\n" for i in range(6))
    return _file(tmp, "scores.tsv", f"sentence\tlabel\n{rows}broken row\t{bad_label}\n".encode())


def _teacher_on(tmp: Path, teacher: Path, train: Path) -> list[str]:
    return ["teacher", "--train", str(train), "--out", OUT, "--base-model", str(teacher), "--steps", "2"]


def _foreign_tokenizer(teacher: Path, tmp: Path) -> Path:
    """A tokenizer that emits an id past the model's embedding table (another model's tokenizer)."""
    folder = _copy(teacher, tmp)
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["added_tokens"].append({**tokenizer["added_tokens"][0], "id": 99_999, "content": "[BEYOND]"})
    return _edit_json(folder, "tokenizer.json", tokenizer)


def _through_every_loader(what: str, broken: Callable[[Path, Path], Path], message: str) -> list:
    """The same broken teacher given to distill, export and bench: each refuses it with `message`."""
    commands = {
        "distill": lambda folder, tmp: ["distill", "--teacher", folder, "--out", OUT, "--steps", "2"],
        "export": lambda folder, tmp: ["export", folder, "--out", f"{tmp}/out.onnx"],
        "bench": lambda folder, tmp: ["bench", "--teacher", folder, "--out", OUT, "--teacher-onnx", ""],
    }
    return [
        (f"{name}: {what}", lambda tmp, t, args=args: args(str(broken(t, tmp)), tmp), 1, message)
        for name, args in commands.items()
    ]


OUT = "{tmp}/out"


def _with_config(teacher: Path, tmp: Path, **changes) -> Path:
    folder = _copy(teacher, tmp)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return _edit_json(folder, "config.json", {**config, **changes})


CASES: list[tuple[str, Setup, int, str]] = [
    # teachers
    (
        "distill: a regression head with two outputs",
        lambda tmp, t: ["distill", "--teacher", str(_with_config(t, tmp, problem_type="regression")), "--out", OUT],
        1,
        "problem_type regression with 2 outputs is not supported",
    ),
    (
        "teacher: unknown task",
        lambda tmp, t: [
            "teacher",
            "--train",
            str(_file(tmp, "t.tsv", b"sentence\tlabel\ngood\t1\nbad\t0\n")),
            "--out",
            OUT,
            "--task",
            "bogus",
        ],
        1,
        "task must be one of auto, single_label, multi_label, score",
    ),
    (
        "distill: missing teacher",
        lambda tmp, t: ["distill", "--teacher", f"{tmp}/nope", "--out", OUT],
        1,
        "does not exist",
    ),
    (
        "distill: config.json holds a list",
        lambda tmp, t: ["distill", "--teacher", str(_edit_json(_copy(t, tmp), "config.json", [1, 2])), "--out", OUT],
        1,
        "not an object",
    ),
    (
        "export: config.json holds a list",
        lambda tmp, t: ["export", str(_edit_json(_copy(t, tmp), "config.json", [])), "--out", f"{tmp}/out.onnx"],
        1,
        "not an object",
    ),
    *_through_every_loader("no classification head", _no_head, "no trained classification head"),
    (
        "distill: truncated weights",
        lambda tmp, t: ["distill", "--teacher", str(_truncated(t, tmp)), "--out", OUT],
        1,
        "cannot load the model",
    ),
    (
        "export: truncated weights",
        lambda tmp, t: ["export", str(_truncated(t, tmp)), "--out", f"{tmp}/out.onnx"],
        1,
        "cannot load the model",
    ),
    (
        "distill: no tokenizer",
        lambda tmp, t: ["distill", "--teacher", str(_no_tokenizer(t, tmp)), "--out", OUT],
        1,
        "no tokenizer files",
    ),
    (
        "export: no tokenizer",
        lambda tmp, t: ["export", str(_no_tokenizer(t, tmp)), "--out", f"{tmp}/out.onnx"],
        1,
        "no tokenizer files",
    ),
    # outputs
    (
        "export: --out is the input",
        lambda tmp, t: ["export", str(_copy(t, tmp)), "--out", f"{tmp}/teacher", "--force"],
        1,
        "would overwrite the input",
    ),
    (
        "distill: --out is the teacher",
        lambda tmp, t: ["distill", "--teacher", str(_copy(t, tmp)), "--out", f"{tmp}/teacher", "--force"],
        1,
        "would overwrite the input",
    ),
    (
        "distill: --out inside the teacher",
        lambda tmp, t: ["distill", "--teacher", str(_copy(t, tmp)), "--out", f"{tmp}/teacher/student"],
        1,
        "would overwrite the input",
    ),
    (
        "run: --out under a file",
        lambda tmp, t: ["run", "--teacher", str(t), "--out", f"{_file(tmp, 'no', b'x')}/s.onnx"],
        1,
        "is a file, not a folder",
    ),
    (
        "bench: --out is a file",
        lambda tmp, t: ["bench", "--teacher", str(t), "--out", str(_file(tmp, "report", b"x")), "--teacher-onnx", ""],
        1,
        "is a file",
    ),
    # options
    (
        "distill: --lr inf",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--lr", "inf"],
        2,
        "not a finite number",
    ),
    (
        "distill: --lr -1",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--lr", "-1"],
        1,
        "--lr: lr must be > 0",
    ),
    (
        "distill: --max-length beyond positions",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--max-length", "500"],
        1,
        "beyond the teacher's 64 positions",
    ),
    (
        "distill: --student-heads on a 2-head teacher",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--student-heads", "3"],
        1,
        "keep 1 of them",
    ),
    (
        "distill: unknown --set key",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--set", "guess.stepz=3"],
        1,
        "unknown option 'guess.stepz'",
    ),
    (
        "distill: --minutes 0",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--minutes", "0"],
        2,
        "--minutes",
    ),
    (
        "bench: every --seq-lens too long",
        lambda tmp, t: ["bench", "--teacher", str(t), "--out", OUT, "--seq-lens", "1000", "--teacher-onnx", ""],
        1,
        "nothing would be measured",
    ),
    (
        "run: unknown budget",
        lambda tmp, t: ["run", "--teacher", str(t), "--out", f"{tmp}/s.onnx", "--budget", "huge"],
        2,
        "huge",
    ),
    # eval files
    (
        "distill: --eval-file is a folder",
        lambda tmp, t: ["distill", "--teacher", str(t), "--out", OUT, "--eval-file", str(t)],
        1,
        "is a folder",
    ),
    (
        "distill: --eval-file not UTF-8",
        lambda tmp, t: [
            "distill",
            "--teacher",
            str(t),
            "--out",
            OUT,
            "--eval-file",
            str(_file(tmp, "bad.tsv", b"sentence\tlabel\n\xff\xfe bad\t1\n")),
        ],
        1,
        "not UTF-8",
    ),
    (
        "distill: --eval-file without the column",
        lambda tmp, t: [
            "distill",
            "--teacher",
            str(t),
            "--out",
            OUT,
            "--eval-file",
            str(_file(tmp, "cols.tsv", b"text\tlabel\nfine\t1\n")),
        ],
        1,
        "--text-column",
    ),
    *[
        (
            f"bench: {' '.join(flags)}",
            lambda tmp, t, flags=flags: ["bench", "--teacher", str(t), "--out", OUT, *flags],
            1,
            message,
        )
        for flags, message in [
            (("--batch-sizes", "1,1000000000"), "batch_sizes values must be in [1, 4096], got 1000000000"),
            (("--seq-lens", "16,100000000"), "seq_lens values must be in [3, 8192]"),
            (("--set", "seed=-5"), "seed must be in [0, 9223372036854775807]"),
        ]
    ],
    *[
        (
            f"teacher: {' '.join(flags)}",
            lambda tmp, t, flags=flags: [
                *_teacher_on(tmp, t, _file(tmp, "t.tsv", b"sentence\tlabel\ngood\t1\nbad\t0\n"))[:-2],
                *flags,
            ],
            1,
            message,
        )
        for flags, message in [
            (("--batch-size", "1000000000"), "batch_size must be in [1, 4096]"),
            (("--steps", str(10**12)), "steps must be in [1, 1000000000]"),
            (("--set", f"seed={10**30}"), "seed must be in [0, 9223372036854775807]"),
        ]
    ],
    # config files
    (
        "run: config file not UTF-8",
        lambda tmp, t: [
            "run",
            "--teacher",
            str(t),
            "--out",
            f"{tmp}/s.onnx",
            "--config",
            str(_file(tmp, "run.yaml", b"distill: {lr: 0.1}\n# \xff\n")),
        ],
        1,
        "not UTF-8",
    ),
    (
        "run: config section is a number",
        lambda tmp, t: [
            "run",
            "--teacher",
            str(t),
            "--out",
            f"{tmp}/s.onnx",
            "--config",
            str(_file(tmp, "run.yaml", b"distill: 5\n")),
        ],
        1,
        "distill: expected a mapping",
    ),
    # non-finite numbers: refused with the cause, never trained on, exported, or reported
    *[
        (
            f"teacher: a score label {label}",
            lambda tmp, t, label=label: _teacher_on(tmp, t, _score_file(tmp, label)),
            1,
            "is not a finite number",
        )
        for label in ("nan", "inf", "-inf", "1e309")
    ],
    *_through_every_loader(
        "NaN weights", _nan_head, "the model is broken: 1 weight tensors hold NaN/inf (classifier.weight)"
    ),
    (
        "distill: config.json promises more layers than the weights hold",
        lambda tmp, t: ["distill", "--teacher", str(_with_config(t, tmp, num_hidden_layers=4)), "--out", OUT],
        1,
        "config.json and the weights disagree",
    ),
    *[
        (
            f"distill: config.json {key}={value} over a small model's weights",
            lambda tmp, t, key=key, value=value: [
                "distill",
                "--teacher",
                str(_with_config(t, tmp, **{key: value})),
                "--out",
                OUT,
            ],
            1,
            "config.json and the weights disagree",
        )
        for key, value in (("num_hidden_layers", 1_000_000), ("hidden_size", 1_000_000), ("vocab_size", 10**9))
    ],
    (
        "distill: config.json asdfd_input is neither single nor pair",
        lambda tmp, t: ["distill", "--teacher", str(_with_config(t, tmp, asdfd_input="triple")), "--out", OUT],
        1,
        'it must be "single" or "pair"',
    ),
    (
        "distill: config.json names a label twice",
        lambda tmp, t: [
            "distill",
            "--teacher",
            str(_with_config(t, tmp, id2label={"0": "same", "1": "same"}, label2id={"same": 1})),
            "--out",
            OUT,
        ],
        1,
        "label names must be unique",
    ),
    *[
        (
            f"{command}: a tokenizer with ids past the embedding table",
            lambda tmp, t, command=command: (
                [command, "--teacher", str(_foreign_tokenizer(t, tmp)), "--out", OUT]
                if command != "export"
                else ["export", str(_foreign_tokenizer(t, tmp)), "--out", f"{tmp}/out.onnx"]
            ),
            1,
            "token ids up to 99999 but the model's embedding table has",
        )
        for command in ("distill", "export")
    ],
    # sizes and bounds, checked before anything is built or allocated
    *[
        (
            f"distill: {' '.join(flags)}",
            lambda tmp, t, flags=flags: ["distill", "--teacher", str(t), "--out", OUT, *flags],
            1,
            message,
        )
        for flags, message in [
            (
                ("--student-layers", "99999999999999999999"),
                "student of 99999999999999999999 layers is larger than the teacher (2 layers)",
            ),
            (
                ("--student-layers", "0,99999999999999999999"),
                "student layer 99999999999999999999 does not exist: the teacher has layers 0..1",
            ),
            (("--batch-size", "1000000000"), "batch_size must be in [2, 4096]"),
            (("--seed", str(10**30)), "seed must be in [0, 9223372036854775807]"),
            (("--seed", "-1"), "seed must be in [0, 9223372036854775807]"),
            (("--steps", str(10**12)), "steps must be in [0, 1000000000]"),
            (("--max-length", str(10**8)), "max_length must be in [1, 8192]"),
            (("--threads", str(10**6)), "threads must be in [1, 1024]"),
        ]
    ],
    # config files
    *[
        (
            f"run: --config {name}",
            lambda tmp, t, name=name, text=text: [
                "run",
                "--teacher",
                str(t),
                "--out",
                f"{tmp}/s.onnx",
                "--config",
                str(_file(tmp, name, text.encode())),
            ],
            1,
            message,
        )
        for name, text, message in [
            ("deep.yaml", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
            ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
            ("deep-map.yaml", "distill:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)), "nested too deeply"),
            ("twice.yaml", "distill:\n  steps: 3\n  lr: 0.1\n  steps: 5\n", "key 'steps' is given twice (line 4)"),
            ("twice.json", '{"budget": "fast", "budget": "full"}', "key 'budget' is given twice"),
        ]
    ],
    (
        "run: --config is a device",
        lambda tmp, t: ["run", "--teacher", str(t), "--out", f"{tmp}/s.onnx", "--config", "/dev/null"],
        1,
        "/dev/null is not a regular file (a folder, FIFO or device)",
    ),
    # text shapes
    *[
        (
            f"{command}: a pair teacher on one text column",
            lambda tmp, t, command=command: [
                command,
                "--teacher",
                str(_with_config(t, tmp, asdfd_input="pair")),
                *(["--out", OUT] if command == "distill" else ["--out", OUT, "--teacher-onnx", ""]),
                "--eval-file",
                str(_file(tmp, "e.tsv", b"sentence1\tsentence2\tlabel\ngood\tfine\t1\nbad\tawful\t0\n")),
                "--text-column",
                "sentence1",
            ],
            1,
            "classifies sentence pairs but --text-column 'sentence1' names one column: name two text columns: "
            "--text-column sentence1,sentence2",
        )
        for command in ("distill", "bench")
    ],
    (
        "bench: a single-text teacher on two text columns",
        lambda tmp, t: [
            "bench",
            "--teacher",
            str(t),
            "--out",
            OUT,
            "--teacher-onnx",
            "",
            "--eval-file",
            str(_file(tmp, "e.tsv", b"sentence1\tsentence2\tlabel\ngood\tfine\t1\nbad\tawful\t0\n")),
            "--text-column",
            "sentence1,sentence2",
        ],
        1,
        "the model classifies single texts but --text-column 'sentence1,sentence2' names two columns",
    ),
    # runtime side
    (
        "export: student path is a missing file",
        lambda tmp, t: [
            "bench",
            "--teacher",
            str(t),
            "--student",
            f"{tmp}/none.onnx",
            "--out",
            OUT,
            "--teacher-onnx",
            "",
        ],
        1,
        "does not exist",
    ),
]


@pytest.mark.parametrize("name, setup, code, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_one_clear_line(tmp_path, tiny_teacher_dir, name, setup, code, message):
    args = [part.format(tmp=tmp_path) for part in setup(tmp_path, tiny_teacher_dir)]
    before = {p.name for p in tmp_path.iterdir()}
    result = CliRunner().invoke(main, ["-q", *args])
    assert result.exit_code == code, (name, result.output)
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in result.output, (name, result.output)
    if code == 1:
        assert result.output.strip().count("\n") == 0, (name, result.output)  # exactly one line
    after = {p.name for p in tmp_path.iterdir()}
    left = {n for n in after - before if n not in ("teacher",)}
    assert not {n for n in left if n in ("out", "out.onnx", "s.onnx", "s.run") or n.endswith(".tmp")}, (name, left)


def test_out_into_missing_folders_creates_them_and_a_file_in_the_way_is_one_line(tmp_path):
    from asdfd.core._io import check_output_path
    from asdfd.core.errors import ConfigError

    check_output_path(tmp_path / "new" / "deeper" / "student.onnx", force=False)
    assert (tmp_path / "new" / "deeper").is_dir() and not (tmp_path / "new" / "deeper" / "student.onnx").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_path(tmp_path / "file" / "sub" / "out.onnx", force=False)


@pytest.mark.parametrize("flag", ["--eval-file"])
def test_a_fifo_as_a_data_file_is_named_as_such(tmp_path, tiny_teacher_dir, flag):
    import os

    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    result = CliRunner().invoke(
        main, ["-q", "distill", "--teacher", str(tiny_teacher_dir), "--out", str(tmp_path / "o"), flag, str(fifo)]
    )
    assert result.exit_code == 1 and "is not a regular file" in result.output, result.output


def test_api_paths_take_str_and_pathlike_and_refuse_anything_else_before_work(tmp_path, tiny_teacher_dir):
    import os

    from asdfd import distill
    from asdfd.core.errors import ConfigError
    from asdfd.pipeline import plan_run
    from asdfd.pipeline.teacher_recipe import train_teacher

    class Where(os.PathLike):
        def __init__(self, path: Path) -> None:
            self.path = path

        def __fspath__(self) -> str:
            return str(self.path)

    plan = plan_run(Where(tiny_teacher_dir), str(tmp_path / "s.onnx"))
    assert plan.teacher == tiny_teacher_dir and plan.out == tmp_path / "s.onnx"
    with pytest.raises(ConfigError, match=r"teacher: expected a path \(str or os.PathLike\), got 5"):
        distill(5, tmp_path / "s")
    with pytest.raises(ConfigError, match="out: expected a path"):
        distill(Where(tiny_teacher_dir), b"s")
    with pytest.raises(ConfigError, match="eval_file: expected a path"):
        distill(str(tiny_teacher_dir), Where(tmp_path / "s"), eval_file=3.5)
    with pytest.raises(ConfigError, match="out: expected a path"):
        train_teacher(tmp_path / "train.tsv", None)
    assert list(tmp_path.iterdir()) == []
