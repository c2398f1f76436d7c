"""What a synthesizer is: the one interface between data-free input generation and the distillation loop.

The loop (asdfd.compressor.loop) asks for a batch, runs the teacher and the student on it, and trains the
student on KD (+ hidden-state matching) plus whatever extra loss the synthesizer adds. Everything about *how*
inputs are made (random tokens, whole words, teacher-guided selection, token-space search, AS-DFD's pool of
guessed embeddings) lives behind `Synthesizer`, chosen by name with `--method`.

Example (a method in one file: its options and its synthesizer, registered together):

    >>> @register("fixed")
    ... @dataclass(frozen=True, kw_only=True)
    ... class FixedConfig(SynthesisConfig):
    ...     length: int = 8
    ...     '''Tokens per sample.'''
    >>> @FixedConfig.synthesizer
    ... class Fixed(Synthesizer):
    ...     def next_batch(self, step):
    ...         return SynthBatch(attention_mask=mask, input_ids=ids)
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import Tensor

    from asdfd.compressor.devices import Placement
    from asdfd.compressor.distill_config import DistillConfig
    from asdfd.compressor.frozen_teacher import Teacher

__all__ = ["SynthBatch", "SynthContext", "Synthesizer"]


@dataclass
class SynthBatch:
    """Inputs for one student step: token ids or embeddings, with the attention mask (all on the run's device)."""

    attention_mask: Tensor
    """(B, L) int64, 1 where attended."""
    input_ids: Tensor | None = None
    """(B, L) int64 token ids; the loop looks them up in the frozen word embeddings."""
    inputs_embeds: Tensor | None = None
    """(B, L, d) embeddings (AS-DFD's pseudo embeddings); used as given."""
    teacher_logits: Tensor | None = None
    """(B, C) the teacher's logits on these inputs, when the synthesizer already computed them (selection)."""
    teacher_hidden: tuple[Tensor, ...] | None = None
    """The teacher's hidden states on these inputs (embeddings first), with `teacher_logits`; saves the loop
    a teacher forward."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Synthesizer-private data for `extra_loss` (e.g. masked positions of the self-supervised task)."""
    stats: dict[str, float] = field(default_factory=dict)
    """Figures to log with the step (e.g. the teacher's class balance on this batch)."""

    def embeddings(self, embed_ids: Callable[[Tensor], Tensor]) -> Tensor:
        """(B, L, d) float embeddings the models read: `inputs_embeds`, or `input_ids` through `embed_ids`
        (`Teacher.embed_ids`: the word-embedding rows, plus the segment offset of a pair's second text)."""
        if self.inputs_embeds is not None:
            return self.inputs_embeds
        assert self.input_ids is not None, "a SynthBatch needs input_ids or inputs_embeds"
        return embed_ids(self.input_ids)


@dataclass
class SynthContext:
    """What every synthesizer may read: the frozen teacher, the options, the device, and the run's RNG."""

    teacher: Teacher
    config: DistillConfig
    placement: Placement
    generator: torch.Generator
    """The run's CPU generator: every random draw of a synthesizer comes from it (reproducible, resumable)."""
    candidates: Tensor
    """(K,) token ids random inputs are drawn from (no special or unused tokens)."""
    token_weights: Tensor | None
    """(K,) draw probabilities over `candidates` (the vocabulary prior), None = uniform."""
    student: Any = None
    """The student being trained (set by the loop): synthesizers that search against it read it."""

    @property
    def vocabulary(self) -> Tensor:
        """(V, d) the teacher's frozen word embeddings."""
        return self.teacher.word_embeddings

    def forward(self, model: Any, embeds: Tensor, mask: Tensor, hidden: bool) -> Any:
        """`model` (the teacher's or the student) on input embeddings under the run's autocast; the student under
        the placement's training attention kernel (`Placement.training_attention`)."""
        placement = self.placement
        kernel = placement.training_attention() if model is self.student else contextlib.nullcontext()
        with placement.autocast(), kernel:
            return model(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=hidden)


class Synthesizer(ABC):
    """Produces the inputs the student learns from: implement `next_batch`; every other hook is optional.

    The loop calls, in order: `prepare()` (drained before the first step), then per step `next_batch(step)`,
    `extra_loss(...)`, `after_step(step)`; `parameters()` once, `diagnostics()` at each evaluation, and
    `state_dict()` / `load_state_dict()` for checkpoints.
    """

    stage: str = "kd"
    """Name of the training phase in progress output."""
    needs_student_hidden: bool = False
    """Whether `extra_loss` reads the student's hidden states."""

    def __init__(self, context: SynthContext) -> None:
        self.context = context
        self.options = context.config.synthesis
        """This method's own config (`DistillConfig.synthesis`)."""

    def prepare(self) -> Iterator[dict[str, float]]:
        """Work before training, one yielded unit at a time ({"step", "total", stats}); the loop times each unit
        against the budget, checkpoints and may stop between them. Default: none."""
        yield from ()

    @abstractmethod
    def next_batch(self, step: int) -> SynthBatch:
        """The batch for student step `step` (0-based), `config.batch_size` samples."""

    def extra_loss(
        self, batch: SynthBatch, student_out: Any, teacher_out: Any
    ) -> tuple[Tensor, dict[str, float]] | None:
        """An extra term of the student's loss (weighted by the synthesizer), with its logged value; None = none."""
        return None

    def after_step(self, step: int) -> None:  # noqa: B027 - an optional hook
        """Called after student step `step` (1-based count of steps done), e.g. to refresh a pool."""

    def parameters(self) -> list[Tensor]:
        """Extra trainable parameters optimised with the student (e.g. a self-supervised head)."""
        return []

    def diagnostics(self, final: bool = False) -> dict[str, Any]:
        """Figures of the synthesis itself, logged at each evaluation (`final`: the run's last, into its metrics)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (the run's generator is saved by the loop)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Restore `state_dict()`."""
