"""The benchmark's measurements, each over every model interleaved: the latency grid, the end-to-end pass
(quality logits and texts/s), and the thread sweep (batch-1 latency, saturated throughput).

Each returns the report's rows; the models keep their configured thread count afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm

from asdfd.core.errors import ConfigError
from asdfd.runtime.bench.bench_config import BenchConfig
from asdfd.runtime.bench.latency import IDLE_PAUSE_S, measure_interleaved
from asdfd.runtime.bench.models import BenchModel

__all__ = [
    "measure_latency_grid",
    "measure_quality_and_throughput",
    "throughput_rows",
    "saturated_throughput",
    "measure_thread_counts",
    "throughput_chunk",
    "IDLE_PAUSE_S",
]

logger = logging.getLogger(__name__)


def _progress(items: list, *, desc: str, enabled: bool) -> Iterable:
    return tqdm(items, desc=desc, total=len(items), leave=False) if enabled else items


def _rotations(models: list[BenchModel]) -> Iterator[list[BenchModel]]:
    shift = 0
    while True:
        yield models[shift:] + models[:shift]
        shift = (shift + 1) % len(models)


def _interleaved(calls: dict, config: BenchConfig) -> dict:
    return measure_interleaved(
        calls,
        warmup=config.warmup,
        min_repeats=config.min_repeats,
        max_repeats=config.max_repeats,
        max_seconds=config.max_seconds_per_cell,
    )


def measure_latency_grid(models: list[BenchModel], config: BenchConfig, threads: int, progress: bool) -> list[dict]:
    """Latency percentiles per model × batch size × sequence length (lengths beyond a model's max are skipped)."""
    longest = max(model.max_length for model in models)
    if min(config.seq_lens) > longest:
        raise ConfigError(
            f"every --seq-lens value ({list(config.seq_lens)}) is beyond the models' max length "
            f"({longest} tokens): nothing would be measured; pass lengths up to {longest}"
        )
    rows: list[dict] = []
    cells = [(b, s) for b in config.batch_sizes for s in config.seq_lens]
    for batch_size, seq_len in _progress(cells, desc="latency", enabled=progress):
        calls = {}
        for model in models:
            if seq_len > model.max_length:
                logger.info("%s: seq_len %d > its max length %d, skipped", model.name, seq_len, model.max_length)
                continue
            batch = model.encoder.synthetic_batch(batch_size, seq_len, seed=config.seed)
            calls[model.name] = lambda model=model, batch=batch: model.run(batch)
        if not calls:
            continue
        rows += [
            {"model": name, "batch_size": batch_size, "seq_len": seq_len, "threads": threads, "latency": s.to_dict()}
            for name, s in _interleaved(calls, config).items()
        ]
    return rows


def throughput_chunk(config: BenchConfig) -> int:
    """Texts handed to `predict_logits` at a time: it sorts them by length, so batches pad little."""
    return max(config.throughput_batch_size * 8, 64)


def measure_quality_and_throughput(
    models: list[BenchModel], texts: list, config: BenchConfig, progress: bool
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One interleaved end-to-end pass: logits per model and seconds spent (tokenization included)."""
    chunk = throughput_chunk(config)
    spans = [(start, min(start + chunk, len(texts))) for start in range(0, len(texts), chunk)]
    logits = {m.name: np.empty((len(texts), len(m.labels)), dtype=np.float32) for m in models}
    seconds = {m.name: 0.0 for m in models}
    for model in models:  # warm up every model on one batch so the first chunk is not penalized
        model.predict_logits(texts[: config.throughput_batch_size], config.throughput_batch_size)
    rotations = _rotations(models)
    for start, stop in _progress(spans, desc="throughput + quality", enabled=progress):
        for model in next(rotations):
            time.sleep(IDLE_PAUSE_S)
            t0 = time.perf_counter()
            logits[model.name][start:stop] = model.predict_logits(texts[start:stop], config.throughput_batch_size)
            seconds[model.name] += time.perf_counter() - t0
    return logits, seconds


def throughput_rows(
    models: list[BenchModel], seconds: dict[str, float], num_texts: int, config: BenchConfig, threads: int
) -> list[dict]:
    """Single-stream texts/s of the end-to-end pass, per model."""
    return [
        {
            "model": m.name,
            "batch_size": config.throughput_batch_size,
            "threads": threads,
            "num_texts": num_texts,
            "texts_per_s": num_texts / seconds[m.name],
        }
        for m in models
    ]


def saturated_throughput(model: BenchModel, texts: list[str], streams: int, batch_size: int, chunk: int) -> float:
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


def measure_thread_counts(
    models: list[BenchModel], texts: list, config: BenchConfig, threads: int, progress: bool
) -> tuple[list[dict], list[dict]]:
    """Batch-1 latency at each --thread-sweep count, and saturated throughput with that many streams."""
    sweep_rows: list[dict] = []
    saturated_rows: list[dict] = []
    seq_len = 64 if 64 in config.seq_lens else config.seq_lens[len(config.seq_lens) // 2]
    saturation_texts = [texts[i % len(texts)] for i in range(config.saturation_texts)]
    steps = [("latency", t) for t in config.thread_sweep]
    steps += [("saturated", s) for s in sorted(set(config.thread_sweep) | {threads})]
    rotations = _rotations(models)
    for what, count in _progress(steps, desc="threads", enabled=progress):
        if what == "latency":
            for model in models:
                model.set_threads(count)
            calls = {
                m.name: (lambda m=m, b=m.encoder.synthetic_batch(1, min(seq_len, m.max_length)): m.run(b))
                for m in models
            }
            sweep_rows += [
                {"model": name, "threads": count, "batch_size": 1, "seq_len": seq_len, "latency": s.to_dict()}
                for name, s in _interleaved(calls, config).items()
            ]
        else:
            for model in next(rotations):
                saturated_rows.append(
                    {
                        "model": model.name,
                        "streams": count,
                        "threads_per_stream": 1,
                        "batch_size": config.throughput_batch_size,
                        "texts_per_s": saturated_throughput(
                            model, saturation_texts, count, config.throughput_batch_size, throughput_chunk(config)
                        ),
                    }
                )
    for model in models:
        model.set_threads(threads)
    order = {m.name: index for index, m in enumerate(models)}  # measured in rotating order, reported in model order
    saturated_rows.sort(key=lambda row: (row["streams"], order[row["model"]]))
    return sweep_rows, saturated_rows
