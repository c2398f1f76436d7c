"""`run_pipeline`: distill -> export (validated) -> bench, resumable, in one call.

Outputs for `out = student.onnx`:

    student.onnx                the deployable artifact (written last by the export stage, atomically)
    student.run/student/        the distilled student as a Hugging Face folder (+ distill.json)
    student.run/report/         report.json, report.md, latency.png
    student.run/run_config.json the resolved options, enough to repeat the run exactly
    student.run/state.json      which stages finished, so a re-run skips them

Re-running the same command resumes: a finished stage is skipped, an interrupted distillation continues
from its last checkpoint. Changing an option that alters the result requires `force=True`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asdfd._io import check_output_path, write_json_atomic
from asdfd.compressor import DistillConfig, distill
from asdfd.compressor.config import RUNTIME_ONLY_FIELDS
from asdfd.compressor.quality import PAIRS_NOTE, quality_estimate
from asdfd.config_file import apply_overrides, config_to_dict, merge_options
from asdfd.errors import ConfigError, OutputExistsError
from asdfd.export import ExportConfig, export_onnx
from asdfd.hub import resolve_model_dir
from asdfd.models import read_classifier_config
from asdfd.runtime import BenchConfig, BenchReport, run_bench

__all__ = ["RunPlan", "RunResult", "plan_run", "run_pipeline", "export_artifact", "work_dir_for", "BUDGET_BENCH"]

logger = logging.getLogger(__name__)

BUDGET_BENCH: dict[str, dict[str, Any]] = {
    # The demo's bench must finish in a few minutes on 2 cores: the shapes a user asks about first.
    "fast": {"batch_sizes": (1, 32), "seq_lens": (64,), "max_repeats": 60, "max_seconds_per_cell": 4.0},
    "full": {},
}
"""Bench settings per budget, applied before the config file and flags."""

TOP_LEVEL_KEYS = {
    "teacher",
    "out",
    "budget",
    "eval_file",
    "text_column",
    "label_column",
    "device",
    "quantize",
    "seed",
    "distill",
    "export",
    "bench",
}
"""Keys a run config file may hold; `distill`, `export`, `bench` sections mirror the API's configs."""

PATH_KEYS = {"teacher", "out", "eval_file"}

BENCH_FIELDS_SET_BY_RUN = ("teacher", "students", "out", "eval_file")

Event = Callable[[dict[str, Any]], None]


def work_dir_for(out: Path) -> Path:
    """Where a run keeps everything but the .onnx: `student.onnx` -> `student.run/`."""
    return out.with_name(f"{out.stem}.run")


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """The fully resolved options of one `compress run`; saved as run_config.json."""

    teacher: Path
    out: Path
    budget: str
    eval_file: Path | None
    distill: DistillConfig
    export: ExportConfig
    bench: BenchConfig

    @property
    def work_dir(self) -> Path:
        return work_dir_for(self.out)

    @property
    def student_dir(self) -> Path:
        return self.work_dir / "student"

    @property
    def report_dir(self) -> Path:
        return self.work_dir / "report"

    def to_dict(self) -> dict[str, Any]:
        """The config-file schema: `compress run --config run_config.json` repeats this run."""
        bench = config_to_dict(self.bench)
        for name in BENCH_FIELDS_SET_BY_RUN:
            bench.pop(name)
        return {
            "teacher": str(self.teacher),
            "out": str(self.out),
            "budget": self.budget,
            "eval_file": str(self.eval_file) if self.eval_file else None,
            "distill": config_to_dict(self.distill),
            "export": config_to_dict(self.export),
            "bench": bench,
        }

    def fingerprint(self) -> str:
        """Hash of what determines the outputs; progress/device/thread settings are left out."""
        plan = self.to_dict()
        for name in RUNTIME_ONLY_FIELDS:
            plan["distill"].pop(name, None)
        for section in ("export", "bench"):
            plan[section].pop("show_progress", None)
        return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunResult:
    plan: RunPlan
    report: BenchReport
    stages: dict[str, str] = field(default_factory=dict)
    """Stage -> "ran" or "skipped"."""

    @property
    def paths(self) -> dict[str, Path]:
        return {
            "onnx": self.plan.out,
            "student": self.plan.student_dir,
            "report_md": self.plan.report_dir / "report.md",
            "report_json": self.plan.report_dir / "report.json",
            "latency_png": self.plan.report_dir / "latency.png",
            "config": self.plan.work_dir / "run_config.json",
        }


def plan_run(
    teacher: str | Path | None = None,
    out: str | Path | None = None,
    *,
    budget: str = "fast",
    file_options: dict[str, Any] | None = None,
    flag_options: dict[str, Any] | None = None,
    show_progress: bool = True,
) -> RunPlan:
    """Resolve a run's options: budget preset, then the config file, then command-line flags.

    `file_options` and `flag_options` use the config-file schema: top-level `teacher`, `out`, `budget`,
    `eval_file`, `text_column`, `label_column`, `device`, `quantize`, `seed`, and sections `distill`, `export`,
    `bench` whose keys are the fields of DistillConfig, ExportConfig and BenchConfig. `teacher` and `out`
    arguments win over both.

    Raises:
        ConfigError: unknown keys, bad values, no teacher/out, an `out` that is not a .onnx path.
    """
    merged: dict[str, Any] = {}
    for source in (file_options or {}, flag_options or {}):
        unknown = set(source) - TOP_LEVEL_KEYS
        if unknown:
            raise ConfigError(f"unknown option(s) {sorted(unknown)} in run config; valid: {sorted(TOP_LEVEL_KEYS)}")
        for key, value in source.items():
            if key in ("distill", "export", "bench"):
                if value is not None and not isinstance(value, dict):
                    raise ConfigError(f"{key}: expected a mapping of {key} options, got {value!r}")
                merge_options(merged.setdefault(key, {}), value or {})
            elif value is not None:
                if key in PATH_KEYS | {
                    "budget",
                    "text_column",
                    "label_column",
                    "device",
                    "quantize",
                } and not isinstance(value, (str, Path)):
                    raise ConfigError(f"{key}: expected a string, got {value!r}")
                merged[key] = value
    teacher = teacher or merged.get("teacher")
    out = out or merged.get("out")
    if teacher is None or out is None:
        raise ConfigError("a run needs --teacher and --out (as flags or in the config file)")
    teacher, out = resolve_model_dir(teacher), Path(out)  # a Hub id becomes its cached snapshot
    if out.suffix != ".onnx":
        raise ConfigError(f"--out must be a .onnx file path, got {out}")
    budget = merged.get("budget", budget)
    if budget not in BUDGET_BENCH:
        raise ConfigError(f"unknown budget {budget!r}: choose one of {', '.join(BUDGET_BENCH)}")
    eval_file = Path(merged["eval_file"]) if merged.get("eval_file") else None
    columns = {k: merged[k] for k in ("text_column", "label_column") if k in merged}
    progress = {"show_progress": show_progress}  # last: a saved config must not undo --quiet

    distill_config = DistillConfig.for_budget(budget)
    shared = {k: merged[k] for k in ("device", "seed") if k in merged}
    distill_config = apply_overrides(distill_config, {**shared, **columns}, where="distill")
    distill_config = apply_overrides(distill_config, {**merged.get("distill", {}), **progress}, where="distill")

    quantize = {"quantize": merged["quantize"]} if "quantize" in merged else {}
    # The eval file's texts also judge the quantized student (agreement with its fp32 self; labels unused).
    real = (
        {
            "validation": {
                "eval_file": str(eval_file),
                **({"text_column": columns["text_column"]} if "text_column" in columns else {}),
            }
        }
        if eval_file
        else {}
    )
    export_config = apply_overrides(ExportConfig(), {**quantize, **real}, where="export")
    export_config = apply_overrides(export_config, {**merged.get("export", {}), **progress}, where="export")

    bench_sections = merged.get("bench", {})
    fixed = set(BENCH_FIELDS_SET_BY_RUN) & set(bench_sections)
    if fixed:
        raise ConfigError(f"bench.{sorted(fixed)[0]} is set by the run itself; use the top-level options instead")
    bench_config = BenchConfig(
        teacher=teacher,
        students=(out,),
        eval_file=eval_file,
        out=work_dir_for(out) / "report",
        max_length=export_config.max_length,
        input_kind=distill_config.input_kind,
    )
    bench_config = apply_overrides(bench_config, {**BUDGET_BENCH[budget], **columns}, where="bench")
    bench_config = apply_overrides(bench_config, {**bench_sections, **progress}, where="bench")
    return RunPlan(
        teacher=teacher,
        out=out,
        budget=budget,
        eval_file=eval_file,
        distill=distill_config,
        export=export_config,
        bench=bench_config,
    )


def export_artifact(model_dir: str | Path, out: str | Path, config: ExportConfig, *, force: bool = False) -> Any:
    """`export_onnx`, handing it the compressor's decoded pseudo-samples when the config calibrates on them
    (`calibration.source == "guessed"`): the exporter never imports the compressor itself."""
    from asdfd.export.calibration import num_calibration_batches

    calibration = config.calibration
    samples = None
    if calibration.source == "guessed" and config.quantize in ("int8-static", "auto"):
        from asdfd.compressor import decode_pseudo_samples

        read_classifier_config(model_dir)  # one-line errors before the compressor loads the folder
        samples = decode_pseudo_samples(
            model_dir,
            num_calibration_batches(calibration) * calibration.batch_size,
            seed=calibration.seed,
            max_length=min(calibration.seq_length, config.max_length),
        )
    return export_onnx(model_dir, out, config, force=force, calibration_samples=samples)


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_pipeline(plan: RunPlan, *, force: bool = False, on_event: Event | None = None) -> RunResult:
    """Distill `plan.teacher` without data, export the student to `plan.out`, and benchmark it.

    Example:
        >>> plan = plan_run("bert-sst2", "student.onnx", budget="fast", flag_options={"eval_file": "dev.tsv"})
        >>> result = run_pipeline(plan)
        >>> print(result.report.to_markdown())

    Args:
        force: start over: redo every stage, overwriting earlier outputs.
        on_event: called with {"event": "stage", "stage", "status"} and the distiller's progress dicts.

    Raises:
        AsdfdError: bad teacher folder, options that differ from an earlier unfinished run (without force), ...
    """
    emit = on_event or (lambda event: None)
    read_classifier_config(plan.teacher)
    inputs = (plan.teacher, *([plan.eval_file] if plan.eval_file else []))
    check_output_path(plan.out, force=True, inputs=inputs)  # a bad --out fails now, not after the distillation
    check_output_path(plan.work_dir, force=True, inputs=inputs)
    state_path = plan.work_dir / "state.json"
    state = {} if force else _load_state(state_path)
    fingerprint = plan.fingerprint()
    if state and state.get("fingerprint") != fingerprint:
        raise ConfigError(
            f"{plan.work_dir} holds a run with other options: pass --force to start over, or choose another --out"
        )
    if plan.out.exists() and "export" not in state.get("stages", {}) and not force:
        raise OutputExistsError(f"{plan.out} already exists: pass --force to overwrite it")
    if force and plan.work_dir.exists():
        shutil.rmtree(plan.work_dir)
    plan.work_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(plan.work_dir / "run_config.json", plan.to_dict())
    state = {"fingerprint": fingerprint, "stages": dict(state.get("stages", {}))}

    def finish(stage: str, summary: dict[str, Any]) -> None:
        state["stages"][stage] = {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **summary}
        write_json_atomic(state_path, state)

    ran: dict[str, str] = {}

    def done(stage: str, *paths: Path) -> bool:
        finished = stage in state["stages"] and all(p.exists() for p in paths)
        if finished:
            ran[stage] = "skipped"
            emit({"event": "stage", "stage": stage, "status": "skipped"})
            logger.info("%s: already finished, skipped (pass --force to redo)", stage)
        else:
            emit({"event": "stage", "stage": stage, "status": "start"})
        return finished

    if not done("distill", plan.student_dir):
        result = distill(
            plan.teacher,
            plan.student_dir,
            plan.distill,
            eval_file=plan.eval_file,
            resume=True,
            on_progress=lambda progress: emit({"event": "progress", **progress}),
        )
        finish("distill", {"metrics": result.metrics})
        ran["distill"] = "ran"
        emit({"event": "stage", "stage": "distill", "status": "done", "metrics": result.metrics})
    if not done("export", plan.out):
        exported = export_artifact(plan.student_dir, plan.out, plan.export, force=True)
        finish("export", {"validation": exported.validation})
        ran["export"] = "ran"
        emit({"event": "stage", "stage": "export", "status": "done", "validation": exported.validation})
    report_json = plan.report_dir / "report.json"
    if done("bench", report_json):
        report = BenchReport.from_dict(json.loads(report_json.read_text(encoding="utf-8")))
    else:
        plan.report_dir.mkdir(parents=True, exist_ok=True)
        report = run_bench(plan.bench)
        distilled = state["stages"]["distill"].get("metrics", {})
        estimate = quality_estimate(distilled)
        if estimate:
            report.estimate = estimate
            if estimate.get("warning"):
                report.notes.append(estimate["warning"])
        elif distilled.get("input_kind") == "pair":
            report.notes.append(PAIRS_NOTE)
        if estimate or distilled.get("input_kind") == "pair":
            report.write(plan.report_dir)
        finish("bench", {})
        ran["bench"] = "ran"
        emit({"event": "stage", "stage": "bench", "status": "done"})
    return RunResult(plan=plan, report=report, stages=ran)
