"""`run_pipeline`: distill -> export (validated) -> bench, resumable, in one call.

Outputs for `out = student.onnx`:

    student.onnx                the deployable artifact (written last by the export stage, atomically)
    student.run/student/        the distilled student as a Hugging Face folder (+ distill.json)
    student.run/export/         the exported folder: model.onnx (= student.onnx), onnx/ (transformers.js), tokenizer
    student.run/report/         report.json, report.md, latency.png
    student.run/run_config.json the resolved options, enough to repeat the run exactly
    student.run/state.json      which stages finished, so a re-run skips them

Re-running the same command resumes: a finished stage is skipped, an interrupted distillation continues
from its last checkpoint. Changing an option that alters the result requires `force=True`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from asdfd.compressor.distill_config import METHODS, RUNTIME_ONLY_FIELDS, DistillConfig
from asdfd.compressor.quality_estimate import quality_estimate
from asdfd.core._io import atomic_file, check_output_path, write_json_atomic
from asdfd.core.config_file import apply_overrides, as_path, config_to_dict, merge_options
from asdfd.core.errors import ConfigError, OutputExistsError
from asdfd.core.hub import resolve_model_dir
from asdfd.core.model_folder import read_classifier_config
from asdfd.export.export_config import ExportConfig
from asdfd.runtime.bench.bench_config import BenchConfig
from asdfd.runtime.bench.report import BenchReport

__all__ = [
    "RunConfig",
    "RunPlan",
    "RunResult",
    "plan_run",
    "run_pipeline",
    "export_artifact",
    "work_dir_for",
    "BUDGET_BENCH",
]

logger = logging.getLogger(__name__)

BUDGET_BENCH: dict[str, dict[str, Any]] = {
    # The demo's bench must finish in a few minutes on 2 cores: the shapes a user asks about first.
    "fast": {"batch_sizes": (1, 32), "seq_lens": (64,), "max_repeats": 60, "max_seconds_per_cell": 4.0},
    "full": {},
}
"""Bench settings per budget, applied before the config file and flags."""

BENCH_FIELDS_SET_BY_RUN = ("teacher", "students", "out", "eval_file", "text_column", "label_column")
"""Bench fields the run sets itself (from `teacher`, `out`, `eval_file` and the distill section's columns)."""

Event = Callable[[dict[str, Any]], None]


def work_dir_for(out: Path) -> Path:
    """Where a run keeps everything but the .onnx: `student.onnx` -> `student.run/`."""
    return out.with_name(f"{out.stem}.run")


def _bench_preset(budget: str) -> BenchConfig:
    return BenchConfig(teacher=Path(), **BUDGET_BENCH.get(budget, {}))


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Every option of one `compress run`: what to compress and where, and one section per stage (the configs of
    the Python API). Saved as run_config.json: `compress run --config` on that file repeats the run."""

    moved_options: ClassVar[dict[str, str]] = {
        "seed": "distill.seed",
        "device": "distill.device",
        "quantize": "export.quantize",
        "text_column": "distill.text_column (the run passes it to export and bench)",
        "label_column": "distill.label_column (the run passes it to bench)",
    }
    """Top-level keys of earlier run configs and the section field each now is."""

    teacher: Path | None = None
    """Fine-tuned Hugging Face sequence classifier: a folder or a Hub id."""
    out: Path | None = None
    """Student artifact to write (a .onnx path); other outputs go to <out stem>.run/ beside it."""
    budget: Literal["fast", "full"] = "fast"
    """Preset of every section: fast (the CPU demo, minutes) or full (quality, meant for a GPU)."""
    eval_file: Path | None = None
    """Labelled CSV/TSV: reported accuracy, and the quantized student judged against its fp32 self (never trains)."""
    distill: DistillConfig = field(default_factory=lambda: DistillConfig.for_budget("fast"))
    export: ExportConfig = field(default_factory=ExportConfig)
    bench: BenchConfig = field(default_factory=lambda: _bench_preset("fast"))

    @classmethod
    def for_budget(cls, budget: str, method: str | None = None) -> RunConfig:
        """The preset `budget` of every section (the distill section's for `method`).

        Raises:
            ConfigError: an unknown budget.
        """
        if budget not in BUDGET_BENCH:
            raise ConfigError(f"unknown budget {budget!r}: choose one of {', '.join(BUDGET_BENCH)}")
        distill = DistillConfig.for_budget(budget, **({"method": method} if method else {}))
        return cls(budget=budget, distill=distill, bench=_bench_preset(budget))  # type: ignore[arg-type]

    @property
    def work_dir(self) -> Path:
        return work_dir_for(self.out)  # type: ignore[arg-type]

    @property
    def student_dir(self) -> Path:
        return self.work_dir / "student"

    @property
    def report_dir(self) -> Path:
        return self.work_dir / "report"

    @property
    def export_dir(self) -> Path:
        """The exported folder: model.onnx (= `out`), onnx/ for transformers.js, config.json, tokenizer files."""
        return self.work_dir / "export"

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


RunPlan = RunConfig
"""A resolved `RunConfig` (teacher and out set, sections consistent): what `plan_run` returns."""


@dataclass
class RunResult:
    plan: RunConfig
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
) -> RunConfig:
    """Resolve a run's options: budget preset, then the config file, then command-line flags (`RunConfig`'s schema:
    `teacher`, `out`, `budget`, `eval_file` and the sections `distill`, `export`, `bench`). `teacher` and `out`
    arguments win over both.

    Raises:
        ConfigError: unknown or moved keys, bad values, no teacher/out, an `out` that is not a .onnx path.
    """
    options: dict[str, Any] = {}
    for source in (file_options or {}, flag_options or {}):
        for name in ("distill", "export", "bench"):
            if source.get(name) is not None and not isinstance(source[name], dict):
                raise ConfigError(f"{name}: expected a mapping of {name} options, got {source[name]!r}")
        merge_options(options, {k: v for k, v in source.items() if v is not None})
    budget = options.pop("budget", budget)
    sections = {name: options.get(name) if isinstance(options.get(name), dict) else {} for name in ("distill", "bench")}
    method = sections["distill"].get("method")
    known = method if method in METHODS else None  # an unknown one is reported below, under its key
    config = RunConfig.for_budget(str(budget), method=known)
    fixed = sorted(set(BENCH_FIELDS_SET_BY_RUN) & set(sections["bench"]))
    if fixed:
        raise ConfigError(f"bench.{fixed[0]} is set by the run itself; use the top-level options instead")
    config = apply_overrides(config, options)
    progress = {"show_progress": show_progress}  # last: a saved config must not undo --quiet
    config = apply_overrides(config, {"distill": progress, "export": progress, "bench": progress})
    teacher, out = teacher or config.teacher, out or config.out
    if teacher is None or out is None:
        raise ConfigError("a run needs --teacher and --out (as flags or in the config file)")
    teacher, out = resolve_model_dir(as_path(teacher, "teacher")), as_path(out, "out")  # a Hub id: its snapshot
    if out.suffix != ".onnx":
        raise ConfigError(f"--out must be a .onnx file path, got {out}")
    return _resolved(dataclasses.replace(config, teacher=teacher, out=out), sections["bench"])


def _resolved(config: RunConfig, bench_options: dict[str, Any]) -> RunConfig:
    """The sections made consistent with the run: the eval file and its columns, the bench's models and lengths."""
    distill, export = config.distill, config.export
    if config.eval_file is not None:  # its texts also judge the quantized student (labels unused)
        validation = {"eval_file": str(config.eval_file), "text_column": distill.text_column}
        export = apply_overrides(export, {"validation": validation}, where="export")
    bench = dataclasses.replace(
        config.bench,
        teacher=config.teacher,
        students=(config.out,),
        eval_file=config.eval_file,
        out=work_dir_for(config.out) / "report",  # type: ignore[arg-type]
        text_column=distill.text_column,
        label_column=distill.label_column,
        max_length=bench_options.get("max_length", export.max_length),
        input_kind=bench_options.get("input_kind", distill.input_kind),
    )
    return dataclasses.replace(config, export=export, bench=bench)


def export_artifact(model_dir: str | Path, out: str | Path, config: ExportConfig, *, force: bool = False) -> Any:
    """`export_onnx`, handing it the compressor's decoded pseudo-samples when the config calibrates on them
    (`calibration.source == "guessed"`): the exporter never imports the compressor itself."""
    from asdfd.export import export_onnx
    from asdfd.export.calibration import num_calibration_batches

    calibration = config.calibration
    samples = None
    if calibration.source == "guessed" and config.quantize in ("int8-fixed", "int8-static", "auto"):
        from asdfd.compressor import decode_pseudo_samples

        read_classifier_config(model_dir)  # one-line errors before the compressor loads the folder
        samples = decode_pseudo_samples(
            model_dir,
            num_calibration_batches(calibration) * calibration.batch_size,
            seed=calibration.seed,
            max_length=min(calibration.seq_length, config.max_length),
        )
    return export_onnx(model_dir, out, config, force=force, calibration_samples=samples)


REPORTED_DISTILLATION = ("method", "student_layers", "steps", "train_seconds", "forms", "forms_rule", "forms_skipped")
"""What the report tells of how the student was distilled (distill.json has all of it)."""


def distillation_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The report's account of the distillation: method, layers, steps and, for `forms`, each form's share and why."""
    return {key: metrics[key] for key in REPORTED_DISTILLATION if key in metrics}


def _load_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_pipeline(plan: RunConfig, *, force: bool = False, on_event: Event | None = None) -> RunResult:
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
    from asdfd.compressor import distill  # heavy (torch): only when a run starts
    from asdfd.runtime import run_bench

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
    if not done("export", plan.out, plan.export_dir):
        # One export as a folder (Optimum, the runtime and transformers.js load it), whose self-contained graph
        # is also the single file: the two can never disagree.
        exported = export_artifact(plan.student_dir, plan.export_dir, plan.export, force=True)
        with atomic_file(plan.out) as tmp:
            shutil.copyfile(plan.export_dir / "model.onnx", tmp)
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
        report.distillation = distillation_summary(distilled)
        report.estimate = quality_estimate(distilled)
        if report.estimate.get("warning"):
            report.notes.append(report.estimate["warning"])
        report.write(plan.report_dir)
        finish("bench", {})
        ran["bench"] = "ran"
        emit({"event": "stage", "stage": "bench", "status": "done"})
    return RunResult(plan=plan, report=report, stages=ran)
