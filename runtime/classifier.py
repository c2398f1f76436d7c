"""`Classifier`: load an exported student and classify texts. Needs only onnxruntime, numpy, tokenizers."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from asdfd.core._offline import telemetry_left_on
from asdfd.core.errors import ConfigError, ModelLoadError, NonFiniteError
from asdfd.core.heads import DEFAULT_THRESHOLD, MULTI_LABEL, SCORE, SINGLE_LABEL
from asdfd.runtime.artifact import SUPPORTED_INPUTS, ArtifactInfo, locate_onnx, read_artifact_info
from asdfd.runtime.encoding import TextEncoder, check_count, logits_in_batches
from asdfd.runtime.metrics import probabilities

__all__ = ["Classifier", "Prediction", "make_session", "CPU_DISABLED_OPTIMIZERS", "scales_per_batch"]

CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
"""onnxruntime graph fusions turned off in CPU-only sessions. SkipLayerNormFusion would merge the
residual Adds into SkipLayerNormalization, whose CPU kernel is much slower than the Adds plus the standard
LayerNormalization (see asdfd.export.optimize; measured: docs/export_results.md, section 'Update 2026-12-01:
residual LayerNorm is no longer fused into SkipLayerNormalization on CPU'); on CUDA the fused kernel is the fast
one, so sessions with the CUDA provider keep it."""

logger = logging.getLogger(__name__)
_warn_once = functools.cache(logger.warning)


@dataclass(frozen=True)
class Prediction:
    """The classification of one text (or pair)."""

    label: str
    """Name of the most probable class (multi-label: the most probable label; a score head: its output's name)."""
    score: float
    """Its probability (a score head: the score itself)."""
    scores: dict[str, float]
    """Probability of every class or label, by name, in index order (a score head: {name: score})."""
    labels: tuple[str, ...] = ()
    """What the model predicts: (label,) for a single-label model; every label at or over the threshold, most
    probable first, for a multi-label one (possibly none); () for a score model."""


def make_session(
    onnx_path: Path, *, threads: int | None = None, providers: Sequence[str] | None = None
) -> ort.InferenceSession:
    """An onnxruntime session with a fixed number of intra-op threads (None: onnxruntime's default).

    Raises:
        ModelLoadError: the file is not a loadable ONNX model, or a provider is unavailable.
    """
    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # the events API; the connection itself is stopped by asdfd.core._offline
    if reason := telemetry_left_on():
        _warn_once(reason)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings from the optimizer are not the user's problem
    if threads is not None:
        options.intra_op_num_threads = check_count("threads", threads, most=MAX_THREADS, error=ConfigError)
        options.inter_op_num_threads = 1
    providers = list(providers) if providers else ["CPUExecutionProvider"]
    missing = [name for name in providers if name not in ort.get_available_providers()]
    if missing:
        raise ModelLoadError(
            f"onnxruntime providers {missing} are not available here: available are {ort.get_available_providers()}"
        )
    disabled = list(CPU_DISABLED_OPTIMIZERS) if providers == ["CPUExecutionProvider"] else []
    try:
        return ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=providers, disabled_optimizers=disabled
        )
    except Exception as err:  # InvalidProtobuf, Fail, NoSuchFile... all from the C++ side
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(
            f"cannot load {onnx_path} as an ONNX model (corrupt or incomplete?): {first_line}"
        ) from None


def _unpadded_rows(feed: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Each row of a right-padded feed as a batch of one, cut to its attention mask's length (a row whose mask is not
    a prefix of ones is kept whole): what the graph sees for that text classified alone."""
    mask = feed.get("attention_mask")
    rows = []
    for row in range(len(next(iter(feed.values())))):
        width = None
        if mask is not None:
            length = int(mask[row].sum())
            if 0 < length and mask[row, :length].all():
                width = length
        rows.append({name: np.ascontiguousarray(value[row : row + 1, :width]) for name, value in feed.items()})
    return rows


MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))
"""Most intra-op threads a session may ask for (more only oversubscribe the cores; 10**6 would exhaust memory)."""


def scales_per_batch(provenance: dict) -> bool:
    """Whether a graph quantizes activations with scales computed per run (dynamic int8: onnxruntime's
    DynamicQuantizeLinear and QAttention take one scale per batch tensor, padding included), so that one text's outputs
    depend on the other texts of its batch and on their padding. fp32, fp16 and fixed-scale int8 graphs
    (`--quantize int8-fixed`) do not. An artifact whose provenance does not say counts as per-batch."""
    if "quantization" not in provenance:
        return True
    recipe = provenance["quantization"]
    if not recipe:  # fp32, fp16, or --quantize auto keeping fp32
        return False
    if recipe.get("mode") == "dynamic":
        return True
    return bool(recipe.get("dynamic_nodes")) or bool(recipe.get("quantize_attention", True))


def _checked_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise ConfigError(f"threshold must be a number in (0, 1), got {threshold!r} ({type(threshold).__name__})")
    if not 0.0 < threshold < 1.0:
        raise ConfigError(f"threshold must be in (0, 1), got {threshold}")
    return float(threshold)


class Classifier:
    """A text classifier exported by `compress export`, run with onnxruntime.

    `predict` and `predict_proba` are thread-safe: one `Classifier` can serve all threads of a web
    server (onnxruntime's `InferenceSession.run` is thread-safe; tokenization borrows a tokenizer
    instance no other thread is using, see `TextEncoder`).

    Batch invariance: a text gets bit-identical outputs whether it is classified alone or with any other texts, in
    any order and batch size (`batch_invariant`). Graphs with per-batch activation scales (dynamic int8, the
    `--quantize int8` default: see `scales_per_batch`) are therefore run one text at a time, each without padding,
    while texts are still tokenized in batches; fp32 and fixed-scale int8 graphs (`--quantize int8-fixed`) run whole
    padded batches, which leaves every text's outputs unchanged. `Classifier.load(..., batch_invariant=False)` batches
    dynamic graphs too: faster at large batch sizes, but a text's label may then depend on its batch.

    Example:
        >>> clf = Classifier.load("student.onnx", threads=2)
        >>> clf.predict(["a gripping, funny film"])[0]
        Prediction(label='positive', score=0.97, scores={'negative': 0.03, 'positive': 0.97}, labels=('positive',))
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        info: ArtifactInfo,
        threshold: float = DEFAULT_THRESHOLD,
        batch_invariant: bool = True,
    ) -> None:
        self.session = session
        self.info = info
        self.labels: tuple[str, ...] = info.labels
        self.input_names = [node.name for node in session.get_inputs()]
        unknown = [name for name in self.input_names if name not in SUPPORTED_INPUTS]
        if unknown or "input_ids" not in self.input_names:
            raise ModelLoadError(
                f"{info.onnx_path} has inputs {self.input_names}; the runtime feeds "
                f"{list(SUPPORTED_INPUTS)} (input_ids required)"
            )
        self.output_name = session.get_outputs()[0].name
        num_outputs = session.get_outputs()[0].shape[-1]
        if isinstance(num_outputs, int) and num_outputs != len(self.labels):
            raise ModelLoadError(f"{info.onnx_path} outputs {num_outputs} scores but names {len(self.labels)} labels")
        if (info.head == SCORE) != (len(self.labels) == 1) or (info.head == SINGLE_LABEL and len(self.labels) < 2):
            raise ModelLoadError(
                f"{info.onnx_path} says its head is {info.head} but has {len(self.labels)} outputs (a score head has "
                "exactly one, a single-label head at least two): the artifact is inconsistent; export it again"
            )
        self.encoder = TextEncoder(info.tokenizer_json, info.max_length)
        self.pairs = info.input_kind == "pair"
        """The model classifies sentence pairs: inputs are (text_a, text_b) tuples."""
        self.head = info.head
        """"single_label" (softmax classes), "multi_label" (a sigmoid per label) or "score" (asdfd.core.heads)."""
        self.threshold = _checked_threshold(threshold)
        """Multi-label models predict every label whose probability is at least this."""
        if not isinstance(batch_invariant, bool):
            raise ConfigError(f"batch_invariant must be True or False, got {batch_invariant!r}")
        self.one_text_per_run = batch_invariant and scales_per_batch(info.provenance)
        """The graph's scales are per batch, so `run` feeds it one unpadded text at a time."""
        self.batch_invariant = batch_invariant or not scales_per_batch(info.provenance)
        """A text's outputs do not depend on the other texts of its batch (nor on their number, order or padding)."""
        intra = session.get_session_options().intra_op_num_threads
        self._row_workers = intra if intra > 0 else (os.cpu_count() or 1)
        self._row_pool: ThreadPoolExecutor | None = None
        self._row_lock = threading.Lock()
        self._row_local = threading.local()

    @classmethod
    def load(
        cls,
        path: str | Path,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        batch_invariant: bool = True,
    ) -> Classifier:
        """Load a single .onnx file or an export folder.

        Args:
            path: the .onnx file, or the folder `compress export` wrote.
            threads: intra-op threads (None: onnxruntime's default, all physical cores).
            providers: onnxruntime execution providers, default ["CPUExecutionProvider"].
            threshold: multi-label models: the probability at or over which a label is predicted.
            batch_invariant: True: every text's outputs are the same alone or in any batch (graphs with per-batch
                scales run one text at a time). False: such graphs run whole batches (faster at large batch sizes;
                outputs then depend slightly on the batch, and a label near a tie can flip).

        Raises:
            ModelLoadError: missing/corrupt file, or labels/tokenizer missing from metadata and folder.
        """
        onnx_path = locate_onnx(path)
        session = make_session(onnx_path, threads=threads, providers=providers)
        info = read_artifact_info(onnx_path, dict(session.get_modelmeta().custom_metadata_map))
        logger.debug("loaded %s: %d labels, max_length=%d", onnx_path, len(info.labels), info.max_length)
        return cls(session, info, threshold, batch_invariant)

    @property
    def max_length(self) -> int:
        return self.info.max_length

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Run the graph on an encoded batch (one text at a time, each without its padding, when
        `one_text_per_run`).

        Args:
            batch: {"input_ids", "attention_mask", "token_type_ids"} each (batch, seq_len) int64, padded on the right;
                only the inputs the graph has are fed.
        Returns:
            logits (batch, num_labels) float32.
        """
        feed = {name: batch[name] for name in self.input_names}
        if not self.one_text_per_run:
            return self._run(feed)
        rows = _unpadded_rows(feed)
        if len(rows) == 1 or self._row_workers < 2:
            return np.concatenate([self._run(row) for row in rows])
        workers = min(self._row_workers, len(rows))
        shares = [rows[start::workers] for start in range(workers)]  # one task per worker: little overhead per text
        done = list(self._rows_pool().map(self._run_in_worker, shares))
        logits = np.empty((len(rows), done[0].shape[1]), dtype=done[0].dtype)
        for start, part in enumerate(done):
            logits[start::workers] = part
        return logits

    def _rows_pool(self) -> ThreadPoolExecutor:
        """Threads that run a batch's single-text calls side by side, as many as the session's intra-op threads. One
        session does not run two calls in parallel on its thread pool; one single-thread session per worker does
        (docs/export_results.md, 'Speed side by side')."""
        with self._row_lock:
            if self._row_pool is None:
                self._row_pool = ThreadPoolExecutor(self._row_workers, thread_name_prefix="asdfd-text")
            return self._row_pool

    def _run_in_worker(self, rows: list[dict[str, np.ndarray]]) -> np.ndarray:
        """`rows` one at a time on this worker's own single-thread session (made on its first call)."""
        session = getattr(self._row_local, "session", None)
        if session is None:
            providers = self.session.get_providers()
            session = self._row_local.session = make_session(self.info.onnx_path, threads=1, providers=providers)
        return np.concatenate([self._run(row, session) for row in rows])

    def _run(self, feed: dict[str, np.ndarray], session: ort.InferenceSession | None = None) -> np.ndarray:
        try:
            logits = (session or self.session).run([self.output_name], feed)[0]
        except Exception as err:  # onnxruntime's own classes: the graph and its tokenizer or metadata disagree
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelLoadError(
                f"{self.info.onnx_path} failed on this input ({first_line}): the artifact is inconsistent (e.g. its "
                "tokenizer emits ids beyond the embedding table); export it again"
            ) from None
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):  # a graph whose width was not in its shape
            raise ModelLoadError(
                f"{self.info.onnx_path} outputs scores of shape {logits.shape} but names {len(self.labels)} labels: "
                "the artifact is inconsistent; export it again"
            )
        return logits

    def predict_logits(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Raw scores (logits), shape (len(texts), num_labels), in input order.

        Args:
            texts: strings, or (text_a, text_b) tuples for a sentence-pair model (`self.pairs`).
        Raises:
            DataError: empty input, an item of the wrong kind (a pair for a single-text model or the reverse),
                or batch_size < 1.
            NonFiniteError: the graph outputs NaN/inf (a broken model): never returned as scores.
        """
        logits = logits_in_batches(self.encoder, self.run, texts, batch_size, len(self.labels), self.pairs)
        broken = ~np.isfinite(logits).all(axis=1)
        if broken.any():
            raise NonFiniteError(
                f"{self.info.onnx_path} outputs NaN/inf for {int(broken.sum())} of {len(logits)} texts (first: text "
                f"{int(broken.argmax())}): the model is broken; export it again from a finite checkpoint"
            )
        return logits

    def predict_proba(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Probabilities, shape (len(texts), num_labels), columns in `self.labels` order: a softmax over the classes,
        or for a multi-label model each label's own sigmoid.

        Raises:
            ConfigError: a score model (its output is no probability: `predict_scores`).
        """
        if self.head == SCORE:
            raise ConfigError("this model outputs a score, not probabilities: use predict_scores or predict")
        return probabilities(self.predict_logits(texts, batch_size), self.head)

    def predict_scores(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """A score model's outputs (regression, reranker, STS), shape (len(texts),) float32.

        Raises:
            ConfigError: a classifier (use predict_proba).
        """
        if self.head != SCORE:
            raise ConfigError(f"this model is a {self.head.replace('_', '-')} classifier: use predict_proba or predict")
        return self.predict_logits(texts, batch_size)[:, 0]

    def predict(
        self,
        texts: Sequence[str] | Sequence[tuple[str, str]],
        batch_size: int = 32,
        threshold: float | None = None,
    ) -> list[Prediction]:
        """One `Prediction` per text (or pair), in input order.

        Args:
            threshold: multi-label models: overrides `self.threshold` for this call.
        Raises:
            DataError: empty input, a non-string item, or batch_size < 1.
        """
        threshold = self.threshold if threshold is None else _checked_threshold(threshold)
        if self.head == SCORE:
            name = self.labels[0]
            return [
                Prediction(label=name, score=float(x), scores={name: float(x)})
                for x in self.predict_scores(texts, batch_size)
            ]
        probs = self.predict_proba(texts, batch_size)
        out = []
        for row in probs:
            order = np.argsort(-row, kind="stable")
            best = int(order[0])
            chosen = (
                tuple(self.labels[k] for k in order if row[k] >= threshold)
                if self.head == MULTI_LABEL
                else (self.labels[best],)
            )
            scores = {name: float(p) for name, p in zip(self.labels, row)}
            out.append(Prediction(label=self.labels[best], score=float(row[best]), scores=scores, labels=chosen))
        return out

    def __repr__(self) -> str:
        kind = (", pairs" if self.pairs else "") + (f", {self.head}" if self.head != SINGLE_LABEL else "")
        path = str(self.info.onnx_path)
        return f"Classifier({path!r}, labels={list(self.labels)}, max_length={self.max_length}{kind})"
