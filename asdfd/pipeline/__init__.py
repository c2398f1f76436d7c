"""The top layer: `compress run` (distill -> export -> bench, resumable) and the teacher recipe (`compress teacher`,
a supervised fine-tuning that demonstrates the product; not part of the data-free compressor)."""

from __future__ import annotations

from asdfd.pipeline.compress_run import (
    BUDGET_BENCH,
    RunConfig,
    RunPlan,
    RunResult,
    export_artifact,
    plan_run,
    run_pipeline,
    work_dir_for,
)

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
