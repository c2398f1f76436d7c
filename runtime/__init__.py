"""asdfd.runtime: run exported students. Needs only onnxruntime, numpy and tokenizers.

`pip install asdfd` (the base install) is enough for `Classifier`. The benchmark (`asdfd.runtime.bench`)
is a separate part, loaded only when one of its names is used: it needs the `compress` extra.
Every name is imported on first use.

Example:
    >>> from asdfd.runtime import Classifier
    >>> clf = Classifier.load("student.onnx", threads=2)
    >>> [p.label for p in clf.predict(["a gripping film", "a dull mess"])]
    ['positive', 'negative']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.core._lazy import lazy_exports

_NAMES = {
    "Classifier": "asdfd.runtime.classifier",
    "Prediction": "asdfd.runtime.classifier",
    "ArtifactInfo": "asdfd.runtime.artifact",
    **dict.fromkeys(("BenchConfig", "run_bench", "BenchReport", "LatencyStats"), "asdfd.runtime.bench"),
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.runtime.artifact import ArtifactInfo
    from asdfd.runtime.bench import BenchConfig, BenchReport, LatencyStats, run_bench
    from asdfd.runtime.classifier import Classifier, Prediction
