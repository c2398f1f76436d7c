"""run_bench / compress bench on tiny random models: fields present and consistent, files valid, errors clear."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from asdfd.cli import main
from asdfd.core.data import read_labelled_file
from asdfd.core.errors import ConfigError, DataError, ModelLoadError
from asdfd.runtime import BenchConfig, BenchReport, run_bench
from tests.test_hub import hub_cache  # noqa: F401 (a fixture)

FAST = dict(
    batch_sizes=(1, 4),
    seq_lens=(8, 16),
    threads=1,
    warmup=1,
    min_repeats=3,
    max_repeats=5,
    max_seconds_per_cell=5.0,
    throughput_batch_size=4,
    saturation_texts=16,
    show_progress=False,
)


@pytest.fixture(scope="module")
def labelled_report(
    tiny_teacher_dir, tiny_student_onnx, tiny_labelled_tsv, tmp_path_factory
) -> tuple[BenchReport, Path]:
    out = tmp_path_factory.mktemp("bench") / "report"
    config = BenchConfig(
        teacher=tiny_teacher_dir,
        students=(tiny_student_onnx,),
        eval_file=tiny_labelled_tsv,
        thread_sweep=(1, 2),
        out=out,
        **FAST,
    )
    return run_bench(config), out


def test_report_has_every_model_and_cell(labelled_report):
    report, _ = labelled_report
    names = [m["name"] for m in report.models]
    assert names == ["teacher PyTorch fp32", "teacher ONNX fp32", "teacher ONNX int8", "student"]
    assert [m["role"] for m in report.models] == ["teacher", "baseline", "baseline", "student"]
    for model in report.models:
        assert model["size_mb"] > 0 and model["num_params"] > 0
    cells = {(r["model"], r["batch_size"], r["seq_len"]) for r in report.latency}
    assert cells == {(n, b, s) for n in names for b in (1, 4) for s in (8, 16)}
    for row in report.latency:
        latency = row["latency"]
        assert latency["unit"] == "ms" and latency["count"] >= 3
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"]
    assert {r["model"] for r in report.throughput} == set(names)
    assert all(r["texts_per_s"] > 0 and r["num_texts"] == 24 for r in report.throughput)
    assert {(r["model"], r["streams"]) for r in report.saturated} == {(n, s) for n in names for s in (1, 2)}
    assert {(r["model"], r["threads"]) for r in report.thread_sweep} == {(n, t) for n in names for t in (1, 2)}
    env = report.environment
    assert env["threads"] == 1 and "CPUExecutionProvider" in env["onnxruntime_providers"]
    assert "avx2" in env["cpu_features"] and env["packages"]["onnxruntime"]


def test_quality_figures(labelled_report, tiny_teacher_dir, tiny_labelled_tsv):
    report, _ = labelled_report
    quality = report.quality
    assert quality["source"] == "eval_file" and quality["labelled"] and quality["num_texts"] == 24
    teacher = quality["models"]["teacher PyTorch fp32"]
    assert teacher["agreement"] == 1.0 and teacher["mean_kl"] == pytest.approx(0.0, abs=1e-9)
    assert np.trace(teacher["confusion_vs_teacher"]) == 24
    assert quality["models"]["teacher ONNX fp32"]["agreement"] == 1.0  # same model, another runtime
    # accuracy recomputed independently with transformers' own tokenizer and model
    data = read_labelled_file(tiny_labelled_tsv)
    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher_dir).eval()
    with torch.no_grad():
        logits = model(**tokenizer(data.texts, padding=True, return_tensors="pt")).logits.numpy()
    expected = float(np.mean(logits.argmax(-1) == np.array([int(label) for label in data.labels])))
    assert teacher["accuracy"] == pytest.approx(expected)
    student = quality["models"]["student"]
    assert 0.0 <= student["agreement"] <= 1.0 and student["mean_kl"] >= 0.0
    confusion = np.array(student["confusion_vs_teacher"])
    assert confusion.sum() == 24 and np.trace(confusion) / 24 == pytest.approx(student["agreement"])
    assert 0.0 <= student["ece"] <= 1.0


def test_speedups_are_latency_ratios(labelled_report):
    report, _ = labelled_report
    p50 = {(r["model"], r["batch_size"], r["seq_len"]): r["latency"]["p50"] for r in report.latency}
    for row in report.speedups():
        assert row["p50_speedup_vs"]["teacher PyTorch fp32"] == pytest.approx(
            p50[("teacher PyTorch fp32", row["batch_size"], row["seq_len"])]
            / p50[(row["model"], row["batch_size"], row["seq_len"])]
        )
        if row["model"] == "teacher PyTorch fp32":
            assert row["p50_speedup_vs"]["teacher PyTorch fp32"] == 1.0


def test_files_written_and_valid(labelled_report):
    import matplotlib.image

    report, out = labelled_report
    payload = json.loads((out / "report.json").read_text())
    assert set(payload) >= {
        "config",
        "environment",
        "models",
        "latency",
        "speedups",
        "throughput",
        "saturated",
        "quality",
        "notes",
    }
    assert BenchReport.from_dict(payload).summary_rows() == report.summary_rows()
    png = out / "latency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    markdown = (out / "report.md").read_text()
    for heading in ("## Summary", "## Latency (ms)", "## Throughput", "## Quality", "Confusion, teacher"):
        assert heading in markdown
    assert "teacher ONNX int8" in markdown and "| 4 | 16 | student |" in markdown
    assert list((out / "baselines").glob("teacher-int8-*.onnx"))  # cached for the next run
    header, rows = report.summary_rows()
    assert header[3] == "p50 ms b1×16" and len(rows) == 4


def test_without_eval_file_uses_labelled_generated_texts(tiny_teacher_dir, tiny_student_onnx):
    config = BenchConfig(
        teacher=tiny_teacher_dir,
        students=(tiny_student_onnx,),
        teacher_onnx=(),
        num_generated_texts=20,
        **{**FAST, "batch_sizes": (2,), "seq_lens": (8,)},
    )
    report = run_bench(config)
    assert [m["name"] for m in report.models] == ["teacher PyTorch fp32", "student"]
    assert report.quality["source"] == "generated" and not report.quality["labelled"]
    assert "GENERATED" in report.notes[0] and "GENERATED texts" in report.to_markdown()
    assert report.quality["models"]["teacher PyTorch fp32"]["agreement"] == 1.0
    assert report.quality["models"]["student"]["accuracy"] is None


def test_bad_inputs_give_clear_errors(tmp_path, tiny_teacher_dir, tiny_student_onnx, tiny_labelled_tsv):
    with pytest.raises(ModelLoadError, match="does not exist"):
        run_bench(BenchConfig(teacher=tmp_path / "nope", **FAST))
    with pytest.raises(ModelLoadError, match="does not exist"):
        run_bench(BenchConfig(teacher=tiny_teacher_dir, students=(tmp_path / "s.onnx",), teacher_onnx=(), **FAST))
    bad_labels = tmp_path / "bad.tsv"
    bad_labels.write_text("sentence\tlabel\ngood movie\tmaybe\n")
    with pytest.raises(DataError, match="label 'maybe'"):
        run_bench(BenchConfig(teacher=tiny_teacher_dir, eval_file=bad_labels, teacher_onnx=(), **FAST))
    with pytest.raises(ConfigError, match="seq_lens"):
        BenchConfig(teacher=tiny_teacher_dir, seq_lens=())
    with pytest.raises(ConfigError, match="unknown teacher_onnx"):
        BenchConfig(teacher=tiny_teacher_dir, teacher_onnx=("int4",))
    with pytest.raises(ConfigError, match="teacher reference"):
        BenchConfig(teacher=tiny_teacher_dir, teacher_pytorch=False, teacher_onnx=())


def test_cli_bench(tmp_path, tiny_teacher_dir, tiny_student_onnx, tiny_labelled_tsv):
    runner = CliRunner()
    result = runner.invoke(main, ["bench", "--teacher", str(tiny_teacher_dir), "--batch-sizes", "1,x"])
    assert result.exit_code == 2 and "--batch-sizes" in result.output
    result = runner.invoke(main, ["bench", "--teacher", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.output.startswith("Error: model folder")
    out = tmp_path / "report"
    result = runner.invoke(
        main,
        [
            "-q",
            "bench",
            "--teacher",
            str(tiny_teacher_dir),
            "--student",
            str(tiny_student_onnx),
            "--eval-file",
            str(tiny_labelled_tsv),
            "--batch-sizes",
            "1",
            "--seq-lens",
            "16",
            "--threads",
            "1",
            "--teacher-onnx",
            "int8",
            "--repeats",
            "3",
            "--warmup",
            "1",
            "--out",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "summary" in result.output and "student" in result.output and "teacher ONNX int8" in result.output
    assert (out / "report.json").is_file() and (out / "latency.png").is_file() and (out / "report.md").is_file()


def test_unlabelled_eval_file_gives_agreement_without_accuracy(tmp_path, tiny_teacher_dir, tiny_student_onnx):
    unlabelled = tmp_path / "texts.tsv"
    unlabelled.write_text("sentence\ngood movie\nthe plot was boring\nfun film and great actor\n")
    report = run_bench(
        BenchConfig(
            teacher=tiny_teacher_dir,
            students=(tiny_student_onnx,),
            eval_file=unlabelled,
            teacher_onnx=(),
            **{**FAST, "batch_sizes": (1,), "seq_lens": (8,)},
        )
    )
    assert report.quality["source"] == "eval_file" and report.quality["num_texts"] == 3
    assert not report.quality["labelled"] and report.quality["models"]["student"]["accuracy"] is None
    assert any("no column 'label'" in note for note in report.notes)


def test_busy_machine_note_reads_other_processes_cpu():
    from asdfd.runtime.bench.environment import busy_machine_note

    assert busy_machine_note({"usable_cores": 2, "other_processes_busy_cores": 0.1}) is None
    assert "1.60 of 2 cores" in busy_machine_note({"usable_cores": 2, "other_processes_busy_cores": 1.6})
    assert busy_machine_note({"usable_cores": 2, "other_processes_busy_cores": None}) is None  # no psutil


def test_other_processes_meter_subtracts_our_own_cpu_time(monkeypatch):
    from asdfd.core.hardware import OtherProcessesMeter

    live = OtherProcessesMeter()  # the real psutil reading: present and non-negative
    time.sleep(0.05)
    assert live.busy_cores() is not None and live.busy_cores() >= 0
    # (wall s, system busy CPU s, our own CPU s): over 2 s the system used 3 CPU-s, 1.8 of them ours.
    snapshots = iter([(0.0, 10.0, 2.0), (2.0, 13.0, 3.8)])
    monkeypatch.setattr(OtherProcessesMeter, "_snapshot", staticmethod(lambda: next(snapshots)))
    assert OtherProcessesMeter().busy_cores() == pytest.approx(0.6)


class _RecordingModel:
    """Stands in for a BenchModel: records what each predict_logits call got and when it started."""

    name, labels = "fake", ("a", "b")

    def __init__(self) -> None:
        self.calls: list[tuple[float, int]] = []
        self.threads = None

    def set_threads(self, threads):
        self.threads = threads

    def predict_logits(self, texts, batch_size):
        self.calls.append((time.perf_counter(), len(texts)))
        return np.zeros((len(texts), 2), dtype=np.float32)


def test_throughput_chunks_pause_and_saturated_chunks_match_single_stream(monkeypatch):
    from asdfd.runtime.bench import measure

    slept: list[float] = []
    monkeypatch.setattr(measure.time, "sleep", lambda seconds: slept.append(seconds))
    config = BenchConfig(teacher=Path("unused"), **{**FAST, "throughput_batch_size": 8})
    first, second = _RecordingModel(), _RecordingModel()
    second.name = "other"
    texts = [f"text {i}" for i in range(150)]  # chunks of 8 batches of 8 = 64 texts: 64 + 64 + 22
    logits, seconds = measure.measure_quality_and_throughput([first, second], texts, config, progress=False)
    assert [n for _, n in first.calls] == [8, 64, 64, 22] and logits["fake"].shape == (150, 2)
    # every timed chunk of every model follows a pause (the previous model's threads go idle first)
    assert slept == [measure.IDLE_PAUSE_S] * 6 and set(seconds) == {"fake", "other"}

    saturated = _RecordingModel()
    rate = measure.saturated_throughput(saturated, texts, 2, 8, measure.throughput_chunk(config))
    assert saturated.threads == 1 and rate > 0
    assert sorted(n for _, n in saturated.calls[1:]) == [22, 64, 64]  # same chunking as the single-stream pass


def test_paths_may_be_str_or_pathlike_and_anything_else_is_one_line(tmp_path, tiny_teacher_dir, tiny_student_onnx):
    import os

    class Where(os.PathLike):
        def __fspath__(self) -> str:
            return str(tmp_path / "report")

    config = BenchConfig(teacher=str(tiny_teacher_dir), students=(str(tiny_student_onnx),), out=Where(), eval_file=None)
    assert config.teacher == tiny_teacher_dir and config.students == (tiny_student_onnx,)
    assert config.out == tmp_path / "report" and isinstance(config.out, Path)
    assert BenchConfig(teacher="t", students="s.onnx").students == (Path("s.onnx"),)
    with pytest.raises(ConfigError, match=r"teacher: expected a path \(str or os.PathLike\), got 5"):
        BenchConfig(teacher=5)
    with pytest.raises(ConfigError, match=r"students\[1\]: expected a path"):
        BenchConfig(teacher="t", students=("a.onnx", b"b.onnx"))


def test_a_failed_bench_removes_the_out_folder_it_created(tmp_path, tiny_teacher_dir, monkeypatch):
    from asdfd.runtime.bench import runner

    def fail(*args, **kwargs):
        (tmp_path / "report" / "baselines").mkdir(parents=True)  # as a baseline export would
        raise DataError("broken on purpose")

    monkeypatch.setattr(runner, "load_models", fail)
    with pytest.raises(DataError, match="broken on purpose"):
        run_bench(BenchConfig(teacher=tiny_teacher_dir, out=tmp_path / "report", **FAST))
    assert not (tmp_path / "report").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError):
        run_bench(BenchConfig(teacher=tiny_teacher_dir, out=tmp_path / "kept", **FAST))
    assert (tmp_path / "kept").is_dir()  # a folder that was there before stays


def test_bench_takes_a_hub_id_as_the_teacher(tmp_path, hub_cache, tiny_student_onnx):  # noqa: F811
    result = CliRunner().invoke(
        main,
        ["-q", "bench", "--teacher", "acme/tiny-sst2", "--student", str(tiny_student_onnx), "--teacher-onnx", ""]
        + ["--batch-sizes", "1", "--seq-lens", "8", "--threads", "1", "--repeats", "3", "--warmup", "1"]
        + ["--out", str(tmp_path / "report")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["config"]["teacher"] == str(hub_cache)
