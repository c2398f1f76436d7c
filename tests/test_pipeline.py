"""`compress run` end to end on a tiny teacher: outputs, resume, config precedence, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from asdfd import pipeline
from asdfd.cli import main
from asdfd.core.config_file import load_config_file
from asdfd.core.errors import ConfigError
from asdfd.pipeline import plan_run, run_pipeline
from asdfd.runtime import Classifier

# Small enough for seconds on a CPU, large enough that every stage really runs.
TINY_RUN = {
    "distill": {
        "steps": 6,
        "max_seconds": None,
        "batch_size": 4,
        "log_every": 2,
        "eval_every": 3,
        "threads": 1,
        "checkpoint_every": 3,
        "heldout_random": 8,
        "min_length": 4,
        "max_length": 10,
    },
    "export": {"max_length": 32, "validation": {"num_samples": 8, "latency_runs": 2}},
    "bench": {
        "batch_sizes": [1, 2],
        "seq_lens": [8],
        "warmup": 1,
        "min_repeats": 2,
        "max_repeats": 3,
        "max_seconds_per_cell": 1.0,
        "teacher_onnx": ["none"],
        "saturation_texts": 8,
        "throughput_batch_size": 4,
        "num_generated_texts": 8,
    },
}


@pytest.fixture()
def tiny_config_file(tmp_path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(TINY_RUN), encoding="utf-8")
    return path


def test_plan_run_precedence_budget_file_flags(tmp_path, tiny_teacher_dir):
    plan = plan_run(
        tiny_teacher_dir,
        tmp_path / "s.onnx",
        file_options={"distill": {"steps": 7, "seed": 3}},
        flag_options={"distill": {"temperature": 3.0, "seed": 4}, "export": {"quantize": "none"}},
    )
    assert plan.distill.seed == 4  # flag beats file
    assert plan.distill.steps == 7  # file beats budget preset
    assert plan.distill.temperature == 3.0
    assert plan.export.quantize == "none"
    assert plan.bench.seq_lens == tuple(pipeline.BUDGET_BENCH["fast"]["seq_lens"])  # budget preset applied
    assert plan.bench.students == (tmp_path / "s.onnx",)
    again = plan_run(file_options=json.loads(json.dumps(plan.to_dict())))
    assert again == plan  # the saved config repeats the run exactly


@pytest.mark.parametrize(
    "options, message",
    [
        ({"distill": {"stepz": 1}}, "unknown option 'distill.stepz'"),
        ({"colour": "red"}, "unknown option"),
        ({"bench": {"students": ["x.onnx"]}}, "set by the run itself"),
        ({"budget": "huge"}, "unknown budget"),
        ({"export": {"quantize": "int4"}}, "quantize"),
        ({"seed": 3}, "seed moved: use distill.seed"),
        ({"device": "cpu"}, "device moved: use distill.device"),
        ({"quantize": "none"}, "quantize moved: use export.quantize"),
        ({"text_column": "text"}, "text_column moved: use distill.text_column"),
        ({"bench": {"text_column": "text"}}, "set by the run itself"),
        ({"distill": {"method": "words", "synthesis": {"oversample": 3}}}, "not an option of --method words"),
    ],
)
def test_plan_run_rejects_bad_options(tmp_path, tiny_teacher_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        plan_run(tiny_teacher_dir, tmp_path / "s.onnx", file_options=options)
    with pytest.raises(ConfigError, match=".onnx"):
        plan_run(tiny_teacher_dir, tmp_path / "s.bin")


def _invoke(args: list[str]):
    return CliRunner().invoke(main, ["-q", *args], catch_exceptions=False)


def test_run_end_to_end_and_resume_skips(tmp_path, tiny_teacher_dir, tiny_labelled_tsv, tiny_config_file):
    out = tmp_path / "student.onnx"
    args = [
        "run",
        "--teacher",
        str(tiny_teacher_dir),
        "--out",
        str(out),
        "--eval-file",
        str(tiny_labelled_tsv),
        "--config",
        str(tiny_config_file),
        "--student-ffn",
        "20",
        "--student-heads",
        "1",
        "--lr",
        "3e-4",
        "--json",
    ]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    final = events[-1]
    assert final["event"] == "result" and final["stages"] == {"distill": "ran", "export": "ran", "bench": "ran"}
    assert any(e["event"] == "progress" and e["stage"] for e in events)
    for path in final["paths"].values():
        assert Path(path).exists(), path
    report = json.loads(Path(final["paths"]["report_json"]).read_text())
    assert report == final["report"]
    estimate = report["estimate"]  # the data-free quality estimate is in the report: a number, or unknown and why
    if estimate["status"] == "estimated":
        assert 0 <= estimate["expected_retention"] <= 1 and estimate["why"] == []
    else:
        assert estimate["status"] == "unknown" and estimate["expected_retention"] is None and estimate["why"]
    markdown = Path(final["paths"]["report_md"]).read_text()
    assert "Data-free quality estimate" in markdown and estimate["summary"] in markdown
    # How the student was distilled: the default method's input forms and their shares, in the report
    assert report["distillation"]["method"] == "forms" and "## Distillation" in markdown
    assert abs(sum(form["share"] for form in report["distillation"]["forms"].values()) - 1) < 1e-3
    texts = ["good movie", "awful plot"]
    predictions = Classifier.load(out).predict(texts)
    assert len(predictions) == 2 and all(p.label in {"negative", "positive"} for p in predictions)
    exported = out.with_name("student.run") / "export"  # the folder Optimum and transformers.js load
    assert (exported / "model.onnx").read_bytes() == out.read_bytes()
    assert (exported / "onnx" / "model.onnx").is_file() and (exported / "config.json").is_file()
    assert Classifier.load(exported).predict(texts) == predictions
    saved = json.loads(Path(final["paths"]["config"]).read_text())
    assert saved["distill"]["steps"] == 6 and saved["teacher"] == str(tiny_teacher_dir)
    assert saved["distill"]["student"]["ffn_size"] == 20  # a narrow student goes through export and bench
    assert saved["distill"]["student"]["num_heads"] == 1  # and so does one with pruned heads
    assert saved["distill"]["lr"] == 3e-4
    assert json.loads((Path(final["paths"]["student"]) / "config.json").read_text())["intermediate_size"] == 20

    again = json.loads(_invoke(args).output.splitlines()[-1])
    assert again["stages"] == {"distill": "skipped", "export": "skipped", "bench": "skipped"}
    changed = _invoke([*args[:-1], "--seed", "5"])
    assert changed.exit_code == 1 and "other options" in changed.output and "--force" in changed.output


def test_interrupted_run_resumes_to_the_same_result(tmp_path, tiny_teacher_dir, tiny_config_file, monkeypatch):
    def plan(out: Path):
        from asdfd.core.config_file import load_config_file

        return plan_run(tiny_teacher_dir, out, file_options=load_config_file(tiny_config_file), show_progress=False)

    (tmp_path / "ref").mkdir()
    reference = run_pipeline(plan(tmp_path / "ref" / "student.onnx"))

    out = tmp_path / "run" / "student.onnx"
    out.parent.mkdir()
    import asdfd.export

    real_export = asdfd.export.export_onnx

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(asdfd.export, "export_onnx", crash)  # the pipeline imports it when the export stage starts
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(plan(out))
    assert not out.exists()
    monkeypatch.setattr(asdfd.export, "export_onnx", real_export)
    resumed = run_pipeline(plan(out))
    assert resumed.stages == {"distill": "skipped", "export": "ran", "bench": "ran"}
    resumed_weights = load_file(resumed.plan.student_dir / "model.safetensors")
    reference_weights = load_file(reference.plan.student_dir / "model.safetensors")
    assert resumed_weights.keys() == reference_weights.keys()
    for name, tensor in reference_weights.items():
        assert torch.equal(resumed_weights[name], tensor), name
    texts = ["good movie", "the plot was boring and awful", "fun"]
    # Export may keep or drop graph fusions by a latency check, so the ONNX output agrees to float rounding.
    np.testing.assert_allclose(
        Classifier.load(out).predict_proba(texts), Classifier.load(reference.plan.out).predict_proba(texts), atol=1e-5
    )


def test_run_errors_are_one_line(tmp_path, tiny_config_file):
    result = CliRunner().invoke(
        main, ["run", "--teacher", str(tmp_path / "missing"), "--out", str(tmp_path / "s.onnx")]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error:") and len(result.output.strip().splitlines()) == 1
    assert "does not exist" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("distill: {stepz: 1}\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["run", "--teacher", str(tmp_path), "--out", str(tmp_path / "s.onnx"), "--config", str(bad)]
    )
    assert result.exit_code == 1 and "unknown option 'distill.stepz'" in result.output
    result = CliRunner().invoke(main, ["run", "--out", str(tmp_path / "s.onnx")])
    assert result.exit_code == 1 and "--teacher" in result.output
    result = CliRunner().invoke(main, ["run", "--teacher", str(tmp_path), "--out", "x.onnx", "--budget", "huge"])
    assert result.exit_code == 2


def test_console_script_runs_end_to_end(tmp_path, tiny_teacher_dir, tiny_config_file):
    script = Path(sys.executable).with_name("compress")
    if not script.exists():
        script = shutil.which("compress")
    assert script, "the `compress` console script is not installed (pip install -e .)"
    out = tmp_path / "student.onnx"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    completed = subprocess.run(
        [
            str(script),
            "-q",
            "run",
            "--teacher",
            str(tiny_teacher_dir),
            "--out",
            str(out),
            "--config",
            str(tiny_config_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "report_md" in completed.stdout and out.is_file()
    assert set(Classifier.load(out).predict(["good"])[0].scores) == {"negative", "positive"}


def test_example_run_config_is_valid(tmp_path, tiny_teacher_dir):
    example = Path(__file__).resolve().parents[1] / "examples" / "run_config.yaml"
    plan = plan_run(tiny_teacher_dir, tmp_path / "s.onnx", file_options=load_config_file(example))
    assert plan.distill.student.layers == (0, 2, 5) and plan.distill.student.ffn_size is None
