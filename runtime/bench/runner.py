"""`run_bench`: latency, throughput and quality of a student against its teacher, in one interleaved run.

The teacher is measured as PyTorch fp32 (what was trained) and as ONNX fp32/int8 built through the
export layer (what a user would otherwise deploy: the fair baseline). torch, transformers and the
exporter are imported only inside the functions that build those, so `import asdfd.runtime` stays
torch-free and a student-only benchmark never needs them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from asdfd.data import read_labelled_file
from asdfd.errors import AsdfdError, ConfigError, DataError
from asdfd.hardware import OtherProcessesMeter, default_threads
from asdfd.heads import MULTI_LABEL, SINGLE_LABEL, eval_targets
from asdfd.runtime import metrics
from asdfd.runtime.artifact import locate_onnx
from asdfd.runtime.bench.config import QUANTIZE_NAMES, BenchConfig
from asdfd.runtime.bench.environment import describe_environment
from asdfd.runtime.bench.latency import IDLE_PAUSE_S, measure_interleaved
from asdfd.runtime.bench.models import BenchModel, OnnxModel, PyTorchModel
from asdfd.runtime.bench.report import BenchReport

__all__ = ["BenchConfig", "run_bench", "QUANTIZE_NAMES"]

logger = logging.getLogger(__name__)


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on Windows
        return None


def _progress(items: Iterable, *, desc: str, total: int | None, enabled: bool) -> Iterable:
    if not enabled:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, total=total, leave=False)


def _fingerprint(teacher: Path, max_length: int, input_kind: str = "auto") -> str:
    """Changes when the teacher's weights, the task shape or the exporter's version change, so cached baselines are
    rebuilt."""
    from asdfd import __version__

    digest = hashlib.sha256(f"{max_length}:{__version__}{'' if input_kind == 'auto' else ':' + input_kind}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        path = teacher / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:10]


def _student_names(paths: tuple[Path, ...]) -> list[str]:
    names = [Path(p).stem if Path(p).suffix == ".onnx" else Path(p).name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{Path(p).parent.name}/{name}" for p, name in zip(paths, names)]
    return [name if name.startswith("student") else f"student {name}" for name in names]


def _export_teacher_baseline(teacher: Path, out: Path, *, quantize: str, max_length: int, input_kind: str) -> None:
    """The teacher as a user would deploy it without us: exported (and quantized) by `asdfd.export`."""
    try:
        from asdfd.export import ExportConfig, export_onnx
    except ImportError as err:
        raise ConfigError(
            f"teacher ONNX baselines need the exporter ({err}): install asdfd[compress], "
            "or pass --teacher-onnx '' to skip them"
        ) from None
    # strict: a baseline that falls back to fp32 would be reported under the wrong name.
    config = ExportConfig(quantize=quantize, max_length=max_length, input_kind=input_kind, strict=True)
    export_onnx(teacher, out, config, force=True)


def _load_models(config: BenchConfig, threads: int, cache_dir: Path, notes: list[str]) -> list[BenchModel]:
    """The teacher, its ONNX baselines and the students; a baseline that cannot be built is a note, not an error."""
    models: list[BenchModel] = []
    if config.teacher_pytorch:
        models.append(
            PyTorchModel(
                "teacher PyTorch fp32",
                config.teacher,
                threads=threads,
                max_length=config.max_length,
                input_kind=config.input_kind,
            )
        )
    if config.teacher_onnx:
        fingerprint = _fingerprint(config.teacher, config.max_length, config.input_kind)
        for quantize in config.teacher_onnx:
            path = cache_dir / f"teacher-{QUANTIZE_NAMES[quantize]}-{fingerprint}.onnx"
            if not path.is_file():
                logger.info("exporting the teacher baseline (%s) to %s", QUANTIZE_NAMES[quantize], path)
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    _export_teacher_baseline(
                        config.teacher,
                        path,
                        quantize=quantize,
                        max_length=config.max_length,
                        input_kind=config.input_kind,
                    )
                except AsdfdError as err:
                    name = QUANTIZE_NAMES[quantize]
                    note = f"The teacher ONNX {name} baseline could not be built, so it is not compared: {err}"
                    logger.warning("%s", note)
                    notes.append(note)
                    continue
            role = "teacher" if not models else "baseline"
            models.append(OnnxModel(f"teacher ONNX {QUANTIZE_NAMES[quantize]}", path, role=role, threads=threads))
    for name, path in zip(_student_names(config.students), config.students):
        models.append(OnnxModel(name, Path(path), role="student", threads=threads))
    return models


def _generated_texts(model: BenchModel, count: int, seed: int) -> list:
    """Random sequences of whole words from the tokenizer's vocabulary (no eval file given); pairs of them for a
    sentence-pair model."""
    words = sorted(w for w in model.encoder.vocabulary() if w.isalpha() and w.isascii() and len(w) > 1)
    if not words:
        raise DataError("the tokenizer has no whole-word entries to generate texts from: pass --eval-file")
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(words, k=rng.randint(4, 40))) for _ in range(count * (2 if model.pairs else 1))]
    return list(zip(texts[::2], texts[1::2])) if model.pairs else texts


def _rotations(models: list[BenchModel]) -> Iterator[list[BenchModel]]:
    shift = 0
    while True:
        yield models[shift:] + models[:shift]
        shift = (shift + 1) % len(models)


def _measure_latency_grid(models, config, threads, report_rows, progress):
    longest = max(model.max_length for model in models)
    if min(config.seq_lens) > longest:
        raise ConfigError(
            f"every --seq-lens value ({list(config.seq_lens)}) is beyond the models' max length "
            f"({longest} tokens): nothing would be measured; pass lengths up to {longest}"
        )
    cells = [(b, s) for b in config.batch_sizes for s in config.seq_lens]
    for batch_size, seq_len in _progress(cells, desc="latency", total=len(cells), enabled=progress):
        calls = {}
        for model in models:
            if seq_len > model.max_length:
                logger.info("%s: seq_len %d > its max length %d, skipped", model.name, seq_len, model.max_length)
                continue
            batch = model.encoder.synthetic_batch(batch_size, seq_len, seed=config.seed)
            calls[model.name] = lambda model=model, batch=batch: model.run(batch)
        if not calls:
            continue
        stats = measure_interleaved(
            calls,
            warmup=config.warmup,
            min_repeats=config.min_repeats,
            max_repeats=config.max_repeats,
            max_seconds=config.max_seconds_per_cell,
        )
        for name, latency in stats.items():
            report_rows.append(
                {
                    "model": name,
                    "batch_size": batch_size,
                    "seq_len": seq_len,
                    "threads": threads,
                    "latency": latency.to_dict(),
                }
            )


def _throughput_chunk(config: BenchConfig) -> int:
    """Texts handed to `predict_logits` at a time: it sorts them by length, so batches pad little."""
    return max(config.throughput_batch_size * 8, 64)


def _measure_quality_and_throughput(models, texts, config, progress):
    """One interleaved end-to-end pass: logits per model and texts/s (tokenization included)."""
    chunk = _throughput_chunk(config)
    spans = [(start, min(start + chunk, len(texts))) for start in range(0, len(texts), chunk)]
    logits = {m.name: np.empty((len(texts), len(m.labels)), dtype=np.float32) for m in models}
    seconds = {m.name: 0.0 for m in models}
    for model in models:  # warm up every model on one batch so the first chunk is not penalized
        model.predict_logits(texts[: config.throughput_batch_size], config.throughput_batch_size)
    rotations = _rotations(models)
    for start, stop in _progress(spans, desc="throughput + quality", total=len(spans), enabled=progress):
        for model in next(rotations):
            time.sleep(IDLE_PAUSE_S)
            t0 = time.perf_counter()
            logits[model.name][start:stop] = model.predict_logits(texts[start:stop], config.throughput_batch_size)
            seconds[model.name] += time.perf_counter() - t0
    return logits, seconds


def _saturated_throughput(model: BenchModel, texts: list[str], streams: int, batch_size: int, chunk: int) -> float:
    """texts/s with `streams` threads each running single-threaded inference on its own chunks of texts.

    Chunks are as large as in the single-stream pass, so both pad alike and their texts/s compare.
    """
    model.set_threads(1)
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    lock, position = threading.Lock(), [0]
    model.predict_logits(chunks[0][:batch_size], batch_size)  # warmup (new session after set_threads)
    time.sleep(IDLE_PAUSE_S)

    def worker() -> None:
        while True:
            with lock:
                if position[0] >= len(chunks):
                    return
                mine = chunks[position[0]]
                position[0] += 1
            model.predict_logits(mine, batch_size)

    workers = [threading.Thread(target=worker) for _ in range(streams)]
    t0 = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return len(texts) / (time.perf_counter() - t0)


def _quality(models, logits, labels, reference, threshold: float) -> dict[str, dict]:
    """`metrics.task_quality` of every model against the reference (and the labels), plus the confusion table
    against the teacher for single-label heads (the only ones where it means something)."""
    teacher_logits = logits[reference.name]
    figures = {}
    for model in models:
        entry = metrics.task_quality(reference.head, logits[model.name], teacher_logits, labels, threshold=threshold)
        if reference.head == SINGLE_LABEL:
            entry["confusion_vs_teacher"] = metrics.confusion_matrix(
                teacher_logits.argmax(-1), logits[model.name].argmax(-1), len(reference.labels)
            ).tolist()
        figures[model.name] = entry
    return figures


def _eval_texts(config: BenchConfig, data, reference: BenchModel, notes: list[str]):
    """(texts, label indices or None, description of the source) for the quality and throughput pass.

    Args:
        data: the eval file as `LabelledTexts`, or None to generate texts.
    """
    if data is None:
        notes.append("Quality was measured on GENERATED texts (no --eval-file): agreement with the teacher only.")
        source = {
            "source": "generated",
            "labelled": False,
            "description": "random sequences of vocabulary words (no eval file): agreement on "
            "these says little about agreement on real text",
        }
        return _generated_texts(reference, config.num_generated_texts, config.seed), None, source
    texts = data.texts[: config.max_eval_texts] if config.max_eval_texts else data.texts
    labels = None
    if data.labels is not None:
        labels = np.asarray(eval_targets(data.labels[: len(texts)], reference.labels, reference.head, config.eval_file))
    elif config.label_column:
        notes.append(f"{config.eval_file} has no column {config.label_column!r}: no figures against labels.")
    return texts, labels, {"source": "eval_file", "path": str(config.eval_file), "labelled": labels is not None}


def _measure_thread_counts(models, texts, config: BenchConfig, threads: int, progress: bool):
    """Batch-1 latency at each --thread-sweep count, and saturated throughput with that many streams."""
    sweep_rows: list[dict] = []
    saturated_rows: list[dict] = []
    seq_len = 64 if 64 in config.seq_lens else config.seq_lens[len(config.seq_lens) // 2]
    saturation_texts = [texts[i % len(texts)] for i in range(config.saturation_texts)]
    steps = [("latency", t) for t in config.thread_sweep]
    steps += [("saturated", s) for s in sorted(set(config.thread_sweep) | {threads})]
    rotations = _rotations(models)
    for what, count in _progress(steps, desc="threads", total=len(steps), enabled=progress):
        if what == "latency":
            for model in models:
                model.set_threads(count)
            calls = {
                m.name: (lambda m=m, b=m.encoder.synthetic_batch(1, min(seq_len, m.max_length)): m.run(b))
                for m in models
            }
            stats = measure_interleaved(
                calls,
                warmup=config.warmup,
                min_repeats=config.min_repeats,
                max_repeats=config.max_repeats,
                max_seconds=config.max_seconds_per_cell,
            )
            sweep_rows += [
                {"model": name, "threads": count, "batch_size": 1, "seq_len": seq_len, "latency": s.to_dict()}
                for name, s in stats.items()
            ]
        else:
            for model in next(rotations):
                saturated_rows.append(
                    {
                        "model": model.name,
                        "streams": count,
                        "threads_per_stream": 1,
                        "batch_size": config.throughput_batch_size,
                        "texts_per_s": _saturated_throughput(
                            model, saturation_texts, count, config.throughput_batch_size, _throughput_chunk(config)
                        ),
                    }
                )
    for model in models:
        model.set_threads(threads)
    order = {m.name: index for index, m in enumerate(models)}  # measured in rotating order, reported in model order
    saturated_rows.sort(key=lambda row: (row["streams"], order[row["model"]]))
    return sweep_rows, saturated_rows


def _busy_machine_note(environment: dict) -> str | None:
    """A warning when other processes kept more than half a core busy on average while we measured."""
    busy = environment.get("other_processes_busy_cores")
    if busy is None or busy <= 0.5:
        return None
    return (
        f"Other processes kept {busy:.2f} of {environment['usable_cores']} cores busy on average while this "
        "ran: absolute timings are pessimistic and noisy; the ratios between models, measured interleaved, "
        "are the figures to compare."
    )


def run_bench(config: BenchConfig) -> BenchReport:
    """Measure the teacher (PyTorch, ONNX baselines) and the students; write the report if `config.out`.

    Returns:
        BenchReport with latency percentiles per model × batch × seq_len, end-to-end and saturated
        throughput, quality against the teacher (and the labels), sizes and the environment.

    Raises:
        ModelLoadError, DataError, ConfigError: with one-line messages.
    """
    from asdfd.models import read_classifier_config  # torch-free check of the folder, clear errors

    read_classifier_config(config.teacher)  # before anything is written or exported
    for path in config.students:  # fail on a typo before minutes of teacher export
        locate_onnx(path)
    if min(config.seq_lens) > config.max_length:
        raise ConfigError(
            f"every --seq-lens value ({list(config.seq_lens)}) is beyond the max length "
            f"({config.max_length} tokens): nothing would be measured; pass lengths up to it"
        )
    threads = config.threads or default_threads()
    load_at_start = _load_average()
    others = OtherProcessesMeter()
    data = None
    if config.eval_file is not None:  # read first: a bad file fails before minutes of teacher export
        data = read_labelled_file(
            config.eval_file, text_column=config.text_column, label_column=config.label_column, require_labels=False
        )
    notes: list[str] = []
    temporary = None
    if config.out is not None:
        if Path(config.out).exists() and not Path(config.out).is_dir():
            raise ConfigError(
                f"--out {config.out} is a file: the report needs a folder (it writes report.json, "
                "report.md and latency.png into it)"
            )
        cache_dir = Path(config.out) / "baselines"  # created when a baseline is first exported
    else:
        temporary = cache_dir = Path(tempfile.mkdtemp(prefix="asdfd-bench-"))
    try:
        models = _load_models(config, threads, cache_dir, notes)
        if not models or models[0].role != "teacher":
            raise ConfigError(
                "no teacher reference could be built (see the notes above): keep teacher_pytorch, "
                "or give a teacher_onnx that exports"
            )
        reference = models[0]
        for model in models[1:]:
            if model.labels != reference.labels:
                raise DataError(
                    f"{model.name} has labels {list(model.labels)} but the teacher has "
                    f"{list(reference.labels)}: they must match to compare predictions"
                )
            if model.head != reference.head:
                raise DataError(
                    f"{model.name} is a {model.head} model but the teacher a {reference.head} one: "
                    "compare a student with its own teacher"
                )
            if model.pairs != reference.pairs:
                kinds = {True: "sentence pairs", False: "single texts"}
                raise DataError(
                    f"{model.name} classifies {kinds[model.pairs]} but the teacher {kinds[reference.pairs]}: "
                    "compare a student with its own teacher"
                )
        texts, labels, source = _eval_texts(config, data, reference, notes)

        latency_rows: list[dict] = []
        _measure_latency_grid(models, config, threads, latency_rows, config.show_progress)
        logits, seconds = _measure_quality_and_throughput(models, texts, config, config.show_progress)
        sweep_rows, saturated_rows = _measure_thread_counts(models, texts, config, threads, config.show_progress)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)

    throughput_rows = [
        {
            "model": m.name,
            "batch_size": config.throughput_batch_size,
            "threads": threads,
            "num_texts": len(texts),
            "texts_per_s": len(texts) / seconds[m.name],
        }
        for m in models
    ]
    quality = {
        **source,
        "num_texts": len(texts),
        "reference": reference.name,
        "labels": list(reference.labels),
        "head": reference.head,
        **({"threshold": config.threshold} if reference.head == MULTI_LABEL else {}),
        "models": _quality(models, logits, labels, reference, config.threshold),
    }
    environment = describe_environment(threads)
    environment["load_average_1m"] = {"start": load_at_start, "end": _load_average()}
    environment["other_processes_busy_cores"] = others.busy_cores()
    if (note := _busy_machine_note(environment)) is not None:
        notes.append(note)
    report = BenchReport(
        config={
            k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "students" else v)
            for k, v in dataclasses.asdict(config).items()
        },
        environment=environment,
        models=[m.describe() for m in models],
        latency=latency_rows,
        throughput=throughput_rows,
        saturated=saturated_rows,
        thread_sweep=sweep_rows,
        quality=quality,
        notes=notes,
    )
    if config.out is not None:
        report.write(Path(config.out))
    return report
