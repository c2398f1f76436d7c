"""`Classifier`: load an exported student and classify texts. Needs only onnxruntime, numpy, tokenizers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from asdfd.errors import ModelLoadError
from asdfd.runtime.artifact import SUPPORTED_INPUTS, ArtifactInfo, locate_onnx, read_artifact_info
from asdfd.runtime.encoding import TextEncoder, logits_in_batches
from asdfd.runtime.metrics import softmax

__all__ = ["Classifier", "Prediction", "make_session", "CPU_DISABLED_OPTIMIZERS"]

CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
"""onnxruntime graph fusions turned off in CPU-only sessions. SkipLayerNormFusion would merge the
residual Adds into SkipLayerNormalization, whose CPU kernel is much slower than the Adds plus the standard
LayerNormalization (see asdfd.export.optimize; measured: docs/export_results.md, section 'Update 2026-12-01:
residual LayerNorm is no longer fused into SkipLayerNormalization on CPU'); on CUDA the fused kernel is the fast
one, so sessions with the CUDA provider keep it."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """The classification of one text."""

    label: str
    """Name of the most probable class."""
    score: float
    """Its probability."""
    scores: dict[str, float]
    """Probability of every class, by label name, in class-index order."""


def make_session(
    onnx_path: Path, *, threads: int | None = None, providers: Sequence[str] | None = None
) -> ort.InferenceSession:
    """An onnxruntime session with a fixed number of intra-op threads (None: onnxruntime's default).

    Raises:
        ModelLoadError: the file is not a loadable ONNX model, or a provider is unavailable.
    """
    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()  # never let the native library phone home from a user's process
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # warnings from the optimizer are not the user's problem
    if threads is not None:
        if threads < 1:
            raise ModelLoadError(f"threads must be >= 1, got {threads}")
        options.intra_op_num_threads = threads
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


class Classifier:
    """A text classifier exported by `compress export`, run with onnxruntime.

    `predict` and `predict_proba` are thread-safe: one `Classifier` can serve all threads of a web
    server (onnxruntime's `InferenceSession.run` is thread-safe; tokenization borrows a tokenizer
    instance no other thread is using, see `TextEncoder`).

    Example:
        >>> clf = Classifier.load("student.onnx", threads=2)
        >>> clf.predict(["a gripping, funny film"])[0]
        Prediction(label='positive', score=0.97, scores={'negative': 0.03, 'positive': 0.97})
    """

    def __init__(self, session: ort.InferenceSession, info: ArtifactInfo) -> None:
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
        self.encoder = TextEncoder(info.tokenizer_json, info.max_length)
        self.pairs = info.input_kind == "pair"
        """The model classifies sentence pairs: inputs are (text_a, text_b) tuples."""

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, providers: Sequence[str] | None = None) -> Classifier:
        """Load a single .onnx file or an export folder.

        Args:
            path: the .onnx file, or the folder `compress export` wrote.
            threads: intra-op threads (None: onnxruntime's default, all physical cores).
            providers: onnxruntime execution providers, default ["CPUExecutionProvider"].

        Raises:
            ModelLoadError: missing/corrupt file, or labels/tokenizer missing from metadata and folder.
        """
        onnx_path = locate_onnx(path)
        session = make_session(onnx_path, threads=threads, providers=providers)
        info = read_artifact_info(onnx_path, dict(session.get_modelmeta().custom_metadata_map))
        logger.debug("loaded %s: %d labels, max_length=%d", onnx_path, len(info.labels), info.max_length)
        return cls(session, info)

    @property
    def max_length(self) -> int:
        return self.info.max_length

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Run the graph on an encoded batch.

        Args:
            batch: {"input_ids", "attention_mask", "token_type_ids"} each (batch, seq_len) int64;
                only the inputs the graph has are fed.
        Returns:
            logits (batch, num_labels) float32.
        """
        feed = {name: batch[name] for name in self.input_names}
        return self.session.run([self.output_name], feed)[0]

    def predict_logits(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Raw scores (logits), shape (len(texts), num_labels), in input order.

        Args:
            texts: strings, or (text_a, text_b) tuples for a sentence-pair model (`self.pairs`).
        Raises:
            DataError: empty input, an item of the wrong kind (a pair for a single-text model or the reverse),
                or batch_size < 1.
        """
        return logits_in_batches(self.encoder, self.run, texts, batch_size, len(self.labels), self.pairs)

    def predict_proba(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """Class probabilities, shape (len(texts), num_labels), columns in `self.labels` order."""
        return softmax(self.predict_logits(texts, batch_size))

    def predict(self, texts: Sequence[str] | Sequence[tuple[str, str]], batch_size: int = 32) -> list[Prediction]:
        """One `Prediction` (label, its score, all scores) per text (or pair), in input order.

        Raises:
            DataError: empty input, a non-string item, or batch_size < 1.
        """
        probabilities = self.predict_proba(texts, batch_size)
        best = probabilities.argmax(axis=-1)
        return [
            Prediction(
                label=self.labels[k], score=float(row[k]), scores={name: float(p) for name, p in zip(self.labels, row)}
            )
            for row, k in zip(probabilities, best)
        ]

    def __repr__(self) -> str:
        kind = ", pairs" if self.pairs else ""
        path = str(self.info.onnx_path)
        return f"Classifier({path!r}, labels={list(self.labels)}, max_length={self.max_length}{kind})"
