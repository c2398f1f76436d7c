"""Options of a distillation run: the loop's own (`DistillConfig`), the student's shape (`StudentConfig`), and
one `synthesis` section whose type is the chosen method's config (asdfd.compressor.synthesis).

Change a frozen config with `dataclasses.replace(config, steps=500)`. Torch-free (the CLI reads it for --help).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from asdfd.compressor.synthesis import SynthesisConfig, method_config, methods
from asdfd.core.config_file import check_range
from asdfd.core.errors import ConfigError

__all__ = [
    "METHODS",
    "Method",
    "StudentConfig",
    "DistillConfig",
    "BUDGETS",
    "RUNTIME_ONLY_FIELDS",
]

METHODS: tuple[str, ...] = methods()
"""The built-in synthesis methods (the registry's names)."""
Method = Literal[METHODS]  # type: ignore[valid-type]
DeviceName = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "bf16"]

BUDGETS = ("fast", "full")
"""Names accepted by `DistillConfig.for_budget`."""

RUNTIME_ONLY_FIELDS = (
    "device",
    "precision",
    "threads",
    "show_progress",
    "log_every",
    "checkpoint_every",
    "eval_every",
    "text_column",
    "label_column",
    "eval_max_length",
)
"""Fields that may differ between a checkpoint and `--resume` (they do not change what is learned)."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True, kw_only=True)
class StudentConfig:
    """How the student is cut from the teacher."""

    num_layers: int | None = None
    """Student depth; none = `depth_fraction` of the teacher's layers (at least one)."""
    depth_fraction: float = 0.5
    """Share of the teacher's layers the student keeps when neither `layers` nor `num_layers` is set."""
    pair_depth_fraction: float | None = None
    """[ours] `depth_fraction` for a sentence-pair teacher (none = the same): pair students need more depth than
    single-text ones at the same budget (docs/distill_results.md)."""
    layers: tuple[int, ...] | None = None
    """Explicit teacher layers to copy (0-based, e.g. 0,2,5); overrides `num_layers`; none = as `layer_choice` says."""
    layer_choice: Literal["spread", "auto"] = "spread"
    """[ours] Without `layers`: spread over the depth, ends kept; or auto: the teacher chooses, scoring every set of
    that many layers (a subset when there are many) by the cut student's agreement with it on synthetic held-out
    words, before training and within the time budget."""
    layer_choice_samples: int = 512
    """[ours] Synthetic held-out inputs (whole words, seeded apart from training) that score each set under auto."""
    ffn_size: int | None = None
    """[ours] Feed-forward neurons kept per layer, the most important by weight norms; overrides `ffn_fraction`."""
    ffn_fraction: float = 1.0
    """[ours] Share of the teacher's FFN neurons kept per layer when `ffn_size` is not set; 1 = all."""
    num_heads: int | None = None
    """[ours] Attention heads kept per layer, the most important by weight norms; overrides `heads_fraction`."""
    heads_fraction: float = 1.0
    """[ours] Share of the teacher's attention heads kept per layer when `num_heads` is not set; 1 = all."""
    freeze_word_embeddings: bool = True
    """Keep the student's word embeddings equal to the teacher's (the space real token ids map into)."""
    dropout: bool = False
    """[ours] Train the student under the teacher's dropout; off by default: every synthetic batch is new, so there is
    nothing to over-fit, and without dropout masks the steps are faster and their targets less noisy (more accurate
    students at equal time: docs/distill_results.md, session 10)."""

    def __post_init__(self) -> None:
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(int(x) for x in self.layers))
            _check(len(self.layers) > 0, "student layers must not be empty")
            _check(all(x >= 0 for x in self.layers), f"student layers must be >= 0, got {list(self.layers)}")
            _check(len(set(self.layers)) == len(self.layers), f"student layers repeat: {list(self.layers)}")
            _check(
                list(self.layers) == sorted(self.layers), f"student layers must be increasing, got {list(self.layers)}"
            )
            _check(
                self.num_layers is None or self.num_layers == len(self.layers),
                f"student num_layers={self.num_layers} disagrees with layers {list(self.layers)}",
            )
            _check(
                self.layer_choice != "auto",
                f"student layers {list(self.layers)} are explicit: drop them or layer_choice auto (which chooses them)",
            )
        _check(
            self.layer_choice in ("spread", "auto"),
            f"student layer_choice must be spread or auto, got {self.layer_choice!r}",
        )
        _check(
            1 <= self.layer_choice_samples <= 65536,
            f"student layer_choice_samples must be in [1, 65536], got {self.layer_choice_samples}",
        )
        if self.num_layers is not None:
            _check(self.num_layers >= 1, f"student num_layers must be >= 1, got {self.num_layers}")
        _check(0 < self.depth_fraction < 1, f"student depth_fraction must be in (0, 1), got {self.depth_fraction}")
        _check(
            self.pair_depth_fraction is None or 0 < self.pair_depth_fraction < 1,
            f"student pair_depth_fraction must be in (0, 1), got {self.pair_depth_fraction}",
        )
        _check(self.ffn_size is None or self.ffn_size >= 1, f"student ffn_size must be >= 1, got {self.ffn_size}")
        _check(0 < self.ffn_fraction <= 1, f"student ffn_fraction must be in (0, 1], got {self.ffn_fraction}")
        _check(self.num_heads is None or self.num_heads >= 1, f"student num_heads must be >= 1, got {self.num_heads}")
        _check(0 < self.heads_fraction <= 1, f"student heads_fraction must be in (0, 1], got {self.heads_fraction}")

    def ffn_neurons(self, teacher_width: int) -> int | None:
        """FFN neurons each student layer keeps, or None to keep the teacher's `teacher_width`."""
        return _kept(self.ffn_size, self.ffn_fraction, teacher_width)

    def attention_heads(self, teacher_heads: int) -> int | None:
        """Attention heads each student layer keeps, or None to keep the teacher's `teacher_heads`."""
        return _kept(self.num_heads, self.heads_fraction, teacher_heads)


def _kept(count: int | None, fraction: float, total: int) -> int | None:
    """An explicit `count`, else `fraction` of `total` (at least 1); None when that is all of them."""
    if count is not None:
        return count
    kept = max(1, round(total * fraction))
    return None if kept >= total else kept


MOVED_TO_SYNTHESIS = (
    "use_stage2",
    "random_token_fraction",
    "heldout_pseudo",
    "guess",
    "self_supervised",
    "adversarial",
)
"""AS-DFD's options, once top-level fields of DistillConfig, now fields of `synthesis` (with --method asdfd)."""


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    """All options of `distill(...)`: the loop's, plus the chosen method's in `synthesis`.

    Example:
        >>> config = dataclasses.replace(DistillConfig.for_budget("fast"), seed=1)
        >>> DistillConfig(method="asdfd").synthesis.guess.steps
        12
    """

    moved_options: ClassVar[dict[str, str]] = {
        name: f"synthesis.{name} (with --method asdfd)" for name in MOVED_TO_SYNTHESIS
    }
    """Old option names and where they went (`asdfd.core.config_file.apply_overrides` names the new key)."""

    method: Method = "forms"
    """What the student learns from: a synthesis method (asdfd.compressor.synthesis); its options are `synthesis`."""
    synthesis: SynthesisConfig = None  # type: ignore[assignment]  # the method's default config when not given
    """The chosen method's options (a section whose fields depend on `method`)."""
    input_kind: Literal["auto", "single", "pair"] = "auto"
    """Task shape: pair (sentence-pair classifiers), single (one text), or auto (read from the teacher's config)."""
    student: StudentConfig = field(default_factory=StudentConfig)

    steps: int = 1000
    """Student optimiser steps (0 = write the initialised student: the "floor")."""
    max_seconds: float | None = None
    """Wall-clock budget for training (preparation included, evaluation excluded); stops early when reached."""
    batch_size: int = 32
    """Synthetic samples per student step (per process under torchrun)."""
    lr: float = 1e-4
    """Peak AdamW learning rate of the student (linear warm-up, then linear decay to 0 at the end of the run)."""
    weight_decay: float = 0.01
    """AdamW weight decay of the student."""
    warmup_fraction: float = 0.05
    """Share of the run (by steps, or by time under `max_seconds`) spent warming the learning rate up."""
    temperature: float = 2.0
    """KD temperature τ; the loss is τ² · KL(teacher ‖ student) on softened logits."""
    hidden_weight: float = 1.0
    """[ours] Weight of hidden-state MSE between student layer i and the teacher layer it was copied from; 0 = off."""
    vocab_filter: Literal["all", "words"] = "all"
    """Tokens to sample from: all non-special tokens, or [ours] only whole alphabetic words and punctuation."""
    vocab_prior: Literal["uniform", "zipf"] = "zipf"
    """How random tokens are drawn: [ours] by Zipf's law over their rank in the vocabulary, or uniformly."""
    min_length: int = 8
    """Shortest sample, [CLS] and [SEP] included."""
    max_length: int = 40
    """Longest sample, [CLS] and [SEP] included."""
    pair_min_length: int = 24
    """[ours] Shortest sample for a sentence-pair teacher (two texts, so longer: both separators included)."""
    pair_max_length: int = 96
    """[ours] Longest sample for a sentence-pair teacher (at most the teacher's positions)."""

    device: DeviceName = "auto"
    """auto = CUDA when available, else CPU."""
    precision: Precision = "auto"
    """auto = bf16 autocast on CUDA, fp32 on CPU."""
    threads: int | None = None
    """torch CPU threads; none = torch's default, lowered to the idle cores when the machine is busy."""
    seed: int = 0
    """Seeds the student's initialisation order, the synthetic inputs and the held-out sets."""
    checkpoint_every: int = 200
    """Student steps between checkpoints (also written after the preparation and on Ctrl-C)."""
    eval_every: int = 100
    """Student steps between held-out diagnostics."""
    log_every: int = 20
    """Student steps between progress lines."""
    heldout_random: int = 256
    """Held-out random-token samples for the agreement diagnostic (never trained on)."""
    text_column: str = "sentence"
    """Text column of the eval file (accuracy for information only)."""
    label_column: str = "label"
    """Label column of the eval file."""
    eval_max_length: int = 128
    """Tokens per eval-file text (at most the teacher's positions)."""
    show_progress: bool = True
    """Progress bars on the terminal."""

    def __post_init__(self) -> None:
        _check(self.method in methods(), f"method must be one of {', '.join(methods())}, got {self.method!r}")
        expected = method_config(self.method)
        if self.synthesis is None or (
            type(self.synthesis) is not expected and self.synthesis == type(self.synthesis)()
        ):
            object.__setattr__(self, "synthesis", expected())  # a method's defaults follow the method
        _check(
            type(self.synthesis) is expected,
            f"synthesis holds --method {type(self.synthesis).method}'s options, not {self.method}'s: "
            f"pass synthesis={expected.__name__}(...)",
        )
        check_range("steps", self.steps, 0, "steps")
        _check(self.max_seconds is None or self.max_seconds > 0, f"max_seconds must be > 0, got {self.max_seconds}")
        check_range("batch_size", self.batch_size, 2, "batch_size")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        _check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        _check(self.hidden_weight >= 0, f"hidden_weight must be >= 0, got {self.hidden_weight}")
        _check(self.vocab_filter in ("all", "words"), f"vocab_filter must be all or words, got {self.vocab_filter!r}")
        _check(
            self.vocab_prior in ("uniform", "zipf"), f"vocab_prior must be uniform or zipf, got {self.vocab_prior!r}"
        )
        _check(
            3 <= self.min_length <= self.max_length,
            f"need 3 <= min_length <= max_length, got {self.min_length} and {self.max_length}",
        )
        _check(
            5 <= self.pair_min_length <= self.pair_max_length,
            f"need 5 <= pair_min_length <= pair_max_length, got {self.pair_min_length} and {self.pair_max_length}",
        )
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {self.device!r}")
        _check(
            self.precision in ("auto", "fp32", "bf16"), f"precision must be auto, fp32 or bf16, got {self.precision!r}"
        )
        check_range("threads", self.threads, 1, "threads")
        check_range("seed", self.seed, 0, "seed")
        for name in ("checkpoint_every", "eval_every", "log_every", "heldout_random", "eval_max_length"):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_length", "pair_max_length", "eval_max_length"):
            check_range(name, getattr(self, name), 1, "length")
        check_range("heldout_random", self.heldout_random, 1, "texts")

    @classmethod
    def for_budget(cls, name: str, **overrides: Any) -> DistillConfig:
        """Named presets: "fast" (the CPU demo: at most 330 s of training) and "full" (quality; a GPU).

        "fast" also makes the student smaller than the library default (a third of the teacher's layers, 2/3 of the
        FFN neurons) and trains it at lr 3e-4. The method's own options follow its preset
        (`SynthesisConfig.for_budget`) unless `synthesis` is given.

        Raises:
            ConfigError: unknown name.
        """
        if name == "fast":
            base: dict[str, Any] = dict(
                steps=100_000,  # a guard only: the 330 s decide (faster steps, e.g. bf16, buy more of them)
                max_seconds=330.0,
                checkpoint_every=100,
                eval_every=200,
                heldout_random=256,
                student=StudentConfig(depth_fraction=1 / 3, pair_depth_fraction=1 / 2, ffn_fraction=2 / 3),
                lr=3e-4,
            )
        elif name == "full":
            base = dict(steps=20000, batch_size=64, lr=1e-4, checkpoint_every=1000, eval_every=500, heldout_random=1024)
        else:
            raise ConfigError(f"unknown budget {name!r}: choose one of {', '.join(BUDGETS)}")
        method = overrides.get("method", cls.method)
        synthesis = overrides.pop("synthesis", None) or method_config(method).for_budget(name)
        return cls(**{**base, **overrides, "synthesis": synthesis})

    @classmethod
    def paper(cls, **overrides: Any) -> DistillConfig:
        """AS-DFD as reconstructed in docs/method.md, without any of our fixes or improvements."""
        synthesis = method_config("asdfd").paper()  # type: ignore[attr-defined]
        student = StudentConfig(dropout=True)  # BERT's training set-up, which the paper does not change
        base = cls(method="asdfd", synthesis=synthesis, hidden_weight=0.0, vocab_prior="uniform", student=student)
        return dataclasses.replace(base, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
