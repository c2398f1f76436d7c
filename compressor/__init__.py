"""asdfd.compressor: data-free distillation of BERT-family text classifiers (and the teacher recipe).

The API is a config dataclass and one verb (torchao style):

    >>> from asdfd.compressor import DistillConfig, distill
    >>> result = distill("artifacts/teacher-sst2", "artifacts/student", DistillConfig.for_budget("fast"))
    >>> result.student_dir, result.metrics["heldout_random_agreement"]

Names are imported on first use, so `import asdfd.compressor.config` does not load torch.
`decode_pseudo_samples` gives data-free calibration inputs (guessed embeddings decoded to token ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd._lazy import lazy_exports

_NAMES = {
    **dict.fromkeys(
        ("DistillConfig", "StudentConfig", "GuessConfig", "SelfSupervisedConfig", "AdversarialConfig"),
        "asdfd.compressor.config",
    ),
    "distill": "asdfd.compressor.distill",
    "DistillResult": "asdfd.compressor.distill",
    "decode_pseudo_samples": "asdfd.compressor.asdfd.embedding_guess",
    "build_student": "asdfd.compressor.student",
    "select_layers": "asdfd.compressor.student",
    "load_teacher": "asdfd.compressor.teacher",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.asdfd.embedding_guess import decode_pseudo_samples
    from asdfd.compressor.config import (
        AdversarialConfig,
        DistillConfig,
        GuessConfig,
        SelfSupervisedConfig,
        StudentConfig,
    )
    from asdfd.compressor.distill import DistillResult, distill
    from asdfd.compressor.student import build_student, select_layers
    from asdfd.compressor.teacher import load_teacher
