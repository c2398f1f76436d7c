"""asdfd.compressor: data-free distillation of BERT-family text classifiers (and the teacher recipe).

The API is a config dataclass and one verb (torchao style):

    >>> from asdfd.compressor import DistillConfig, distill
    >>> result = distill("artifacts/teacher-sst2", "artifacts/student", DistillConfig.for_budget("fast"))
    >>> result.student_dir, result.metrics["heldout_random_agreement"]

Names are imported on first use, so `import asdfd.compressor.distill_config` does not load torch.
`decode_pseudo_samples` gives data-free calibration inputs (guessed embeddings decoded to token ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.core._lazy import lazy_exports

_NAMES = {
    **dict.fromkeys(("DistillConfig", "StudentConfig"), "asdfd.compressor.distill_config"),
    **dict.fromkeys(
        ("AsdfdConfig", "GuessConfig", "SelfSupervisedConfig", "AdversarialConfig"),
        "asdfd.compressor.asdfd_method.synthesizer",
    ),
    **dict.fromkeys(("SynthesisConfig", "Synthesizer", "SynthBatch", "register"), "asdfd.compressor.synthesis"),
    "distill": "asdfd.compressor.loop",
    "DistillResult": "asdfd.compressor.resume",
    "decode_pseudo_samples": "asdfd.compressor.asdfd_method.embedding_guess",
    "build_student": "asdfd.compressor.student",
    "select_layers": "asdfd.compressor.student",
    "load_teacher": "asdfd.compressor.frozen_teacher",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_exports(__name__, _NAMES)

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.asdfd_method.embedding_guess import decode_pseudo_samples
    from asdfd.compressor.asdfd_method.synthesizer import (
        AdversarialConfig,
        AsdfdConfig,
        GuessConfig,
        SelfSupervisedConfig,
    )
    from asdfd.compressor.distill_config import DistillConfig, StudentConfig
    from asdfd.compressor.frozen_teacher import load_teacher
    from asdfd.compressor.loop import distill
    from asdfd.compressor.resume import DistillResult
    from asdfd.compressor.student import build_student, select_layers
    from asdfd.compressor.synthesis import SynthBatch, SynthesisConfig, Synthesizer, register
