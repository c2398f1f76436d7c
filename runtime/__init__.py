"""asdfd.runtime: run and benchmark exported students. Needs only onnxruntime, numpy and tokenizers.

`pip install asdfd` (the base install) is enough for `Classifier`; the benchmark's PyTorch teacher
and baselines need the `compress` extra and import torch only when they are measured.

Example:
    >>> from asdfd.runtime import Classifier
    >>> clf = Classifier.load("student.onnx", threads=2)
    >>> [p.label for p in clf.predict(["a gripping film", "a dull mess"])]
    ['positive', 'negative']
"""

from __future__ import annotations

from asdfd.runtime.artifact import ArtifactInfo
from asdfd.runtime.bench import BenchConfig, run_bench
from asdfd.runtime.classifier import Classifier, Prediction
from asdfd.runtime.latency import LatencyStats
from asdfd.runtime.report import BenchReport

__all__ = ["Classifier", "Prediction", "ArtifactInfo", "BenchConfig", "run_bench", "BenchReport", "LatencyStats"]
