"""What a synthesizer is: the one interface between data-free input generation and the distillation loop.

The loop (asdfd.compressor.loop) asks for a batch, runs the teacher and the student on it, and trains the
student on KD (+ hidden-state matching) plus whatever extra loss the synthesizer adds. Everything about *how*
inputs are made (random tokens, whole words, teacher-guided selection, token-space search, AS-DFD's pool of
guessed embeddings) lives behind `Synthesizer`, chosen by name with `--method`.

Example (a synthesizer that always returns the same batch):

    >>> class Fixed(Synthesizer):
    ...     name = "fixed"
    ...     def next_batch(self, step):
    ...         return SynthBatch(attention_mask=mask, input_ids=ids)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from asdfd.compressor.config import DistillConfig
    from asdfd.compressor.devices import Runtime
    from asdfd.compressor.teacher import Teacher

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
    runtime: Runtime
    generator: torch.Generator
    """The run's CPU generator: every random draw of a synthesizer comes from it (reproducible, resumable)."""
    candidates: Tensor
    """(K,) token ids random inputs are drawn from (no special or unused tokens)."""
    token_weights: Tensor | None
    """(K,) draw probabilities over `candidates` (the vocabulary prior), None = uniform."""
    prior: Tensor | None = None
    """(C,) the teacher's class base rate on random tokens (set by the loop before any batch is made)."""
    student: Any = None
    """The student being trained (set by the loop): synthesizers that search against it read it."""

    @property
    def vocabulary(self) -> Tensor:
        """(V, d) the teacher's frozen word embeddings."""
        return self.teacher.word_embeddings


class Synthesizer(ABC):
    """Produces the inputs the student learns from. Subclasses set `name` and implement `next_batch`."""

    name: ClassVar[str] = "?"

    def __init__(self, context: SynthContext) -> None:
        self.context = context

    @property
    def stage(self) -> str:
        """Name of the training phase in progress output ("kd"; AS-DFD: "stage2")."""
        return "kd"

    # -- optional phases ---------------------------------------------------------------------------
    def prepare_steps(self) -> int:
        """Work units left before training can start (AS-DFD: pool batches to guess); 0 = none."""
        return 0

    @property
    def prepared_steps(self) -> int:
        """Work units already done (a resumed run's progress bar starts there)."""
        return 0

    def prepare_step(self) -> dict[str, float]:
        """Do one unit of that work; returns its stats. Time spent counts against the training budget."""
        raise NotImplementedError

    def can_start(self) -> bool:
        """Whether training could start now if the preparation budget ran out (AS-DFD: a non-empty pool)."""
        return True

    @abstractmethod
    def next_batch(self, step: int) -> SynthBatch:
        """The batch for student step `step` (0-based), `config.batch_size` samples."""

    def loss_inputs(self, batch: SynthBatch, embeds: Tensor) -> Tensor:
        """The embeddings both models read for `batch` (default: as given); AS-DFD masks some rows here."""
        return embeds

    def needs_student_hidden(self) -> bool:
        """Whether `extra_loss` reads the student's hidden states."""
        return False

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

    def evaluate(self) -> dict[str, Any]:
        """Diagnostics of the synthesis itself (logged at each evaluation)."""
        return {}

    def summary(self) -> dict[str, Any]:
        """Final figures of the synthesis, added to the run's metrics."""
        return {}

    # -- resume --------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly (the run's generator is saved by the loop)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook
        """Restore `state_dict()`."""
