"""asdfd.runtime: run exported students. Needs only onnxruntime, numpy and tokenizers.

`pip install asdfd` (the base install) is enough for `Classifier`. The benchmark (`asdfd.runtime.bench`)
is a separate part, loaded only when one of its names is used: it needs the `compress` extra.

Example:
    >>> from asdfd.runtime import Classifier
    >>> clf = Classifier.load("student.onnx", threads=2)
    >>> [p.label for p in clf.predict(["a gripping film", "a dull mess"])]
    ['positive', 'negative']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd._lazy import lazy_exports
from asdfd.runtime.artifact import ArtifactInfo
from asdfd.runtime.classifier import Classifier, Prediction

_BENCH = {name: "asdfd.runtime.bench" for name in ("BenchConfig", "run_bench", "BenchReport", "LatencyStats")}

__all__ = ["Classifier", "Prediction", "ArtifactInfo", *_BENCH]
__getattr__, __dir__ = lazy_exports(__name__, _BENCH)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.runtime.bench import BenchConfig, BenchReport, LatencyStats, run_bench
