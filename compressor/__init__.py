"""asdfd.compressor: AS-DFD data-free distillation of BERT-family text classifiers (and the teacher recipe).

The API is a config dataclass and one verb (torchao style):

    >>> from asdfd.compressor import DistillConfig, distill
    >>> result = distill("artifacts/teacher-sst2", "artifacts/student", DistillConfig.for_budget("fast"))
    >>> result.student_dir, result.metrics["heldout_random_agreement"]

`decode_pseudo_samples` gives data-free calibration inputs (guessed embeddings decoded to token ids).
"""

from __future__ import annotations

from asdfd.compressor.config import (AdversarialConfig, DistillConfig, GuessConfig, SelfSupervisedConfig,
                                     StudentConfig)
from asdfd.compressor.distill import DistillResult, distill
from asdfd.compressor.embedding_guess import decode_pseudo_samples
from asdfd.compressor.student import build_student, select_layers
from asdfd.compressor.teacher import load_teacher

__all__ = ["DistillConfig", "StudentConfig", "GuessConfig", "SelfSupervisedConfig", "AdversarialConfig", "distill",
           "DistillResult", "decode_pseudo_samples", "load_teacher", "build_student", "select_layers"]
