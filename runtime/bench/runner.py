"""`run_bench`: latency, throughput and quality of a student against its teacher, in one interleaved run.

The teacher is measured as PyTorch fp32 (what was trained) and as ONNX fp32/int8 built through the
export layer (what a user would otherwise deploy: the fair baseline; see `asdfd.runtime.bench.lineup`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from asdfd.core.errors import ConfigError
from asdfd.core.hardware import default_threads
from asdfd.core.hub import resolve_model_dir
from asdfd.core.model_folder import read_classifier_config
from asdfd.runtime.artifact import locate_onnx
from asdfd.runtime.bench.bench_config import BenchConfig
from asdfd.runtime.bench.environment import LoadWatch, bench_environment, busy_machine_note
from asdfd.runtime.bench.lineup import load_models, require_comparable
from asdfd.runtime.bench.measure import (
    measure_latency_grid,
    measure_quality_and_throughput,
    measure_thread_counts,
    throughput_rows,
)
from asdfd.runtime.bench.quality import quality_section
from asdfd.runtime.bench.report import BenchReport
from asdfd.runtime.bench.texts import eval_texts, read_eval_file

__all__ = ["run_bench"]

logger = logging.getLogger(__name__)


def run_bench(config: BenchConfig) -> BenchReport:
    """Measure the teacher (PyTorch, ONNX baselines) and the students; write the report if `config.out`.

    Returns:
        BenchReport with latency percentiles per model × batch × seq_len, end-to-end and saturated
        throughput, quality against the teacher (and the labels), sizes and the environment.

    Raises:
        ModelLoadError, DataError, ConfigError: with one-line messages.
    """
    config = dataclasses.replace(config, teacher=resolve_model_dir(config.teacher))  # a Hub id: its snapshot
    _check_inputs(config)
    with _removed_on_failure(config.out):
        return _measure(config)


def _measure(config: BenchConfig) -> BenchReport:
    threads = config.threads or default_threads()
    watch = LoadWatch()
    data = read_eval_file(config)  # read first: a bad file fails before minutes of teacher export
    notes: list[str] = []
    with _baselines_folder(config) as cache_dir:
        models = load_models(config, threads, cache_dir, notes)
        reference = require_comparable(models)
        texts = eval_texts(config, data, reference, notes)
        progress = config.show_progress
        latency_rows = measure_latency_grid(models, config, threads, progress)
        logits, seconds = measure_quality_and_throughput(models, texts.texts, config, progress)
        sweep_rows, saturated_rows = measure_thread_counts(models, texts.texts, config, threads, progress)
    environment = bench_environment(threads, watch)
    if (note := busy_machine_note(environment)) is not None:
        notes.append(note)
    report = BenchReport(
        config=config.to_dict(),
        environment=environment,
        models=[m.describe() for m in models],
        latency=latency_rows,
        throughput=throughput_rows(models, seconds, len(texts.texts), config, threads),
        saturated=saturated_rows,
        thread_sweep=sweep_rows,
        quality=quality_section(models, logits, texts, reference, config),
        notes=notes,
    )
    if config.out is not None:
        report.write(Path(config.out))
    return report


def _check_inputs(config: BenchConfig) -> None:
    """One-line errors for a bad teacher, student path or length grid, before anything is written or exported."""
    read_classifier_config(config.teacher)  # torch-free check of the folder
    for path in config.students:  # fail on a typo before minutes of teacher export
        locate_onnx(path)
    if min(config.seq_lens) > config.max_length:
        raise ConfigError(
            f"every --seq-lens value ({list(config.seq_lens)}) is beyond the max length "
            f"({config.max_length} tokens): nothing would be measured; pass lengths up to it"
        )


@contextlib.contextmanager
def _removed_on_failure(out: Path | None) -> Iterator[None]:
    """A failed or interrupted run removes the `out` folder it created (a folder that was there stays)."""
    created = out is not None and not out.exists()
    try:
        yield
    except BaseException:
        if created and out is not None:
            shutil.rmtree(out, ignore_errors=True)
        raise


@contextlib.contextmanager
def _baselines_folder(config: BenchConfig) -> Iterator[Path]:
    """Where the teacher's ONNX baselines are cached: `out/baselines` (kept for the next run), else a temporary
    folder removed afterwards."""
    if config.out is None:
        temporary = Path(tempfile.mkdtemp(prefix="asdfd-bench-"))
        try:
            yield temporary
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return
    if Path(config.out).exists() and not Path(config.out).is_dir():
        raise ConfigError(
            f"--out {config.out} is a file: the report needs a folder (it writes report.json, "
            "report.md and latency.png into it)"
        )
    yield Path(config.out) / "baselines"  # created when a baseline is first exported
