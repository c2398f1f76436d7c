"""AS-DFD as a synthesis method (`--method asdfd`): its options and its synthesizer. Stage 1 guesses a pool of
pseudo embeddings, stage 2 hardens them adversarially for the student's self-supervised task while the teacher
stays confident (docs/method.md, 'Pseudo-code').

    prepare:      the teacher's base rate on random tokens and a held-out guessed set, then pool batches:
                  E <- argmin_E CE(T(E), y), y drawn from the teacher's base rate
    next_batch:   random-token rows (share r) + pool rows; every k steps the pool rows are hardened:
                  E <- argmin_E CE(T(E), y) − λ_adv·L_ss(S, E) [− β·D(T(E), S(E))], written back to the pool;
                  then a share of the free rows replaced by the teacher's [MASK] embedding (the pretext task)
    extra_loss:   λ_ss·L_ss(S, E) on the masked rows
    after_step:   [ours] every `guess.refresh_every` steps one new batch replaces the oldest pool samples

Every part is a switch of `AsdfdConfig` (use_stage2, self_supervised.enabled, adversarial.enabled, ...).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from asdfd.compressor.deferred import deferred
from asdfd.compressor.synthesis.base import SynthBatch, SynthContext, Synthesizer
from asdfd.compressor.synthesis.registry import SynthesisConfig, check, register
from asdfd.core.errors import ConfigError
from asdfd.core.heads import SINGLE_LABEL

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    from torch import Tensor

torch = deferred("torch")
F = deferred("torch.nn.functional")
tokens = deferred("asdfd.compressor.synthesis.tokens")
diagnostics = deferred("asdfd.compressor.diagnostics")
losses = deferred("asdfd.compressor.losses")
guessing = deferred("asdfd.compressor.asdfd_method.embedding_guess")
hardening = deferred("asdfd.compressor.asdfd_method.adversarial")
pretext = deferred("asdfd.compressor.asdfd_method.self_supervised")
pools = deferred("asdfd.compressor.asdfd_method.pool")

__all__ = ["GuessConfig", "SelfSupervisedConfig", "AdversarialConfig", "AsdfdConfig", "AsdfdSynthesizer"]

logger = logging.getLogger(__name__)

HELDOUT_PSEUDO_SEED_OFFSET = 1_000_003
"""The held-out guessed set follows the loop's held-out random tokens from the same seed (never trained on)."""


@dataclass(frozen=True, kw_only=True)
class GuessConfig:
    """Stage 1 of AS-DFD: Plug & Play Embedding Guessing (teacher only)."""

    steps: int = 12
    """Adam steps per batch of pseudo embeddings."""
    lr: float = 0.01
    """Adam learning rate on the pseudo embeddings."""
    init: Literal["tokens", "gaussian"] = "tokens"
    """Start from random vocabulary tokens' embeddings, or Gaussian noise with the embedding matrix's mean/std."""
    targets: Literal["teacher-prior", "balanced"] = "teacher-prior"
    """Target labels: at the teacher's own base rate on random-token inputs, or balanced over classes (paper)."""
    label_smoothing: float = 0.3
    """Label smoothing in the guessing loss; 0 = plain cross-entropy (paper)."""
    stop_confidence: float | None = 0.9
    """A sample stops moving once the teacher gives its target this probability; none = never stop."""
    renormalize: bool = True
    """After each step, rescale each guessed row to the norm of the token it started from."""
    nearest_token_weight: float = 0.0
    """μ: weight of the squared distance of each row to its nearest vocabulary embedding."""
    pool_size: int = 512
    """Pseudo samples guessed before training."""
    refresh_every: int = 0
    """[ours] Every this many student steps, guess one new batch replacing the oldest pool samples; 0 = fixed pool."""
    snap_to_tokens: bool = False
    """[ours, experimental] Train on the nearest-token version of each guessed sample (real token ids)."""

    def __post_init__(self) -> None:
        check(self.steps >= 1, f"guess.steps must be >= 1, got {self.steps}")
        check(self.lr > 0, f"guess.lr must be > 0, got {self.lr}")
        check(self.init in ("tokens", "gaussian"), f"guess.init must be tokens or gaussian, got {self.init!r}")
        check(
            self.targets in ("teacher-prior", "balanced"),
            f"guess.targets must be teacher-prior or balanced, got {self.targets!r}",
        )
        check(0 <= self.label_smoothing < 1, f"guess.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        check(
            self.stop_confidence is None or 0 < self.stop_confidence <= 1,
            f"guess.stop_confidence must be in (0, 1], got {self.stop_confidence}",
        )
        check(
            self.nearest_token_weight >= 0, f"guess.nearest_token_weight must be >= 0, got {self.nearest_token_weight}"
        )
        check(self.pool_size >= 1, f"guess.pool_size must be >= 1, got {self.pool_size}")
        check(self.refresh_every >= 0, f"guess.refresh_every must be >= 0, got {self.refresh_every}")


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
        check(self.weight >= 0, f"self_supervised.weight must be >= 0, got {self.weight}")
        check(0 < self.mask_fraction < 1, f"self_supervised.mask_fraction must be in (0, 1), got {self.mask_fraction}")


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
    """Student (min) steps per max step."""

    def __post_init__(self) -> None:
        check(self.weight >= 0, f"adversarial.weight must be >= 0, got {self.weight}")
        check(
            self.disagreement_weight >= 0,
            f"adversarial.disagreement_weight must be >= 0, got {self.disagreement_weight}",
        )
        check(self.steps >= 1, f"adversarial.steps must be >= 1, got {self.steps}")
        check(self.lr > 0, f"adversarial.lr must be > 0, got {self.lr}")
        check(self.every >= 1, f"adversarial.every must be >= 1, got {self.every}")


@register("asdfd")
@dataclass(frozen=True, kw_only=True)
class AsdfdConfig(SynthesisConfig):
    """AS-DFD (Ma et al. 2020) as reconstructed: guessed pseudo embeddings, hardened adversarially."""

    use_stage2: bool = True
    """Run stage 2 (adversarial self-supervised distillation); off = stage 1 + KD only."""
    random_token_fraction: float = 0.5
    """[ours] Share of each batch made of random-token samples; the rest comes from the guessed pool."""
    heldout_pseudo: int = 64
    """Held-out guessed samples for the agreement diagnostic (never trained on)."""
    guess: GuessConfig = field(default_factory=GuessConfig)
    self_supervised: SelfSupervisedConfig = field(default_factory=SelfSupervisedConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)

    def __post_init__(self) -> None:
        check(
            0 <= self.random_token_fraction <= 1,
            f"random_token_fraction must be in [0, 1], got {self.random_token_fraction}",
        )
        check(self.heldout_pseudo >= 1, f"heldout_pseudo must be >= 1, got {self.heldout_pseudo}")

    @property
    def uses_pool(self) -> bool:
        """Whether training draws guessed samples (stage 1 runs)."""
        return self.random_token_fraction < 1

    @classmethod
    def for_budget(cls, name: str) -> AsdfdConfig:
        if name == "fast":
            return cls(heldout_pseudo=32)
        if name == "full":
            return cls(heldout_pseudo=256, guess=GuessConfig(steps=30, pool_size=8192, refresh_every=10))
        return cls()

    @classmethod
    def paper(cls) -> AsdfdConfig:
        """AS-DFD as reconstructed in docs/method.md, without any of our fixes or improvements."""
        guess = GuessConfig(steps=50, targets="balanced", label_smoothing=0.0, stop_confidence=None, renormalize=False)
        return cls(guess=guess, random_token_fraction=0.0)


def _pad_cat(parts: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Concatenate (E (b, l, d), mask (b, l)) parts along the batch, zero-padding to the longest l."""
    width = max(mask.shape[1] for _, mask in parts)
    embeds = [F.pad(e, (0, 0, 0, width - e.shape[1])) for e, _ in parts]
    masks = [F.pad(m, (0, width - m.shape[1])) for _, m in parts]
    return torch.cat(embeds), torch.cat(masks)


@AsdfdConfig.synthesizer
class AsdfdSynthesizer(Synthesizer):
    """AS-DFD (Ma et al. 2020) as reconstructed: a pool of guessed embeddings, hardened adversarially."""

    def __init__(self, context: SynthContext) -> None:
        super().__init__(context)
        teacher, options = context.teacher, self.options
        if teacher.pairs or teacher.head.kind != SINGLE_LABEL:
            what = "a sentence-pair teacher" if teacher.pairs else f"a {teacher.head.kind.replace('_', '-')} head"
            raise ConfigError(
                "--method asdfd guesses embeddings of single texts towards one class: use mix, words, random-tokens, "
                f"guided or hotflip for {what}"
            )
        self.use_pool = options.uses_pool
        self.use_ss = options.use_stage2 and options.self_supervised.enabled
        self.use_adversarial = self.use_pool and options.use_stage2 and options.adversarial.enabled
        self.stage = "stage2" if self.use_pool and options.use_stage2 else "kd"
        self.needs_student_hidden = self.use_ss
        vocabulary = context.vocabulary
        hidden, vocab_size = vocabulary.shape[1], vocabulary.shape[0]
        device = context.placement.device
        self.ss_head = pretext.MaskedEmbeddingHead(hidden, vocab_size).to(device) if self.use_ss else None
        self.pool = (
            pools.PseudoPool.empty(options.guess.pool_size, context.config.max_length, hidden, device)
            if self.use_pool
            else None
        )
        self.token_norm_mean = float(vocabulary[context.candidates.to(vocabulary.device)].norm(dim=-1).mean())
        self.guess_stats: dict[str, float] = {}
        self.prior: Tensor | None = None
        """(C,) the teacher's class base rate on random tokens: the guessed samples' target distribution."""
        self.heldout: Any = None
        """The held-out guessed set (`diagnostics.HeldOut`), never trained on."""

    # -- stage 1 ------------------------------------------------------------------------------------
    def _reference(self) -> None:
        """The teacher's base rate and the held-out guessed set, once (deterministic: a generator of their own)."""
        if self.prior is not None:
            return
        context, config = self.context, self.context.config
        teacher, placement = context.teacher, context.placement
        generator = torch.Generator().manual_seed(config.seed + HELDOUT_PSEUDO_SEED_OFFSET)
        ids, mask = tokens.random_token_batch(
            context.candidates, config.heldout_random, config.min_length, config.max_length, teacher.special, generator
        )
        ids, mask = ids.to(placement.device), mask.to(placement.device)
        logits = diagnostics.predict_logits(teacher.model, teacher.embed_ids(ids), mask, placement)
        self.prior = guessing.teacher_base_rate(logits)
        logger.info("teacher base rate on random tokens: %s", [round(float(x), 3) for x in self.prior])
        embeds, mask, _, _, _ = guessing.guess_batch(context, self.prior, self.options.heldout_pseudo, generator)
        teacher_logits = diagnostics.predict_logits(teacher.model, embeds, mask, placement)
        self.heldout = diagnostics.HeldOut("heldout_pseudo", embeds, mask, teacher_logits)

    def prepare(self) -> Iterator[dict[str, float]]:
        """Guess the pool, one batch per unit (a resumed run goes on where it stopped)."""
        self._reference()
        if self.pool is None:
            return
        batch = self.context.config.batch_size
        total = math.ceil(self.pool.size / batch)
        while self.pool.filled < self.pool.size:
            count = min(batch, self.pool.size - self.pool.filled)
            embeds, mask, labels, init_ids, stats = guessing.guess_batch(
                self.context, self.prior, count, self.context.generator
            )
            self.pool.add(embeds, mask, labels, init_ids)
            self.guess_stats = stats
            yield {"stage": "stage1", "step": math.ceil(self.pool.filled / batch), "total": total, **stats}

    # -- stage 2 ------------------------------------------------------------------------------------
    def _mask(self, embeds: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if self.ss_head is None:
            return embeds, None, None
        context = self.context
        mask_embedding = context.vocabulary[context.teacher.special.mask]
        return pretext.mask_embeddings(
            embeds,
            tokens.free_positions(mask),
            mask_embedding,
            self.options.self_supervised.mask_fraction,
            context.generator,
            context.vocabulary,
            context.candidates,
        )

    def _harden(self, embeds: Tensor, mask: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        """The max step on pool rows: L_E = CE(T(E), y) − λ_adv·L_ss(S, E) − β·D(T(E), S(E))."""
        options = self.options
        adversarial, teacher = options.adversarial, self.context.teacher

        def objective(current: Tensor) -> tuple[Tensor, dict[str, float]]:
            teacher_logits = self.context.forward(teacher.model, current, mask, False).logits.float()
            loss = F.cross_entropy(teacher_logits, labels, label_smoothing=options.guess.label_smoothing)
            stats = {"adv_teacher_ce": float(loss.detach())}
            if self.ss_head is None and adversarial.disagreement_weight == 0:
                return loss, stats
            masked_embeds, masked, targets = self._mask(current, mask)
            out = self.context.forward(self.context.student, masked_embeds, mask, self.ss_head is not None)
            if self.ss_head is not None:
                ss = pretext.self_supervised_loss(
                    self.ss_head, out.hidden_states[-1], masked, targets, self.context.vocabulary
                )
                loss = loss - adversarial.weight * ss
                stats["adv_ss"] = float(ss.detach())
            if adversarial.disagreement_weight > 0:
                reference = (
                    teacher_logits
                    if masked is None
                    else self.context.forward(teacher.model, masked_embeds, mask, False).logits.float()
                )
                loss = loss - adversarial.disagreement_weight * losses.disagreement_loss(out.logits, reference)
            return loss, stats

        target_norms = embeds.norm(dim=-1) if options.guess.renormalize else None
        return hardening.harden_embeddings(
            embeds,
            tokens.free_positions(mask),
            objective,
            steps=adversarial.steps,
            lr=adversarial.lr,
            target_norms=target_norms,
        )

    def next_batch(self, step: int) -> SynthBatch:
        context, config = self.context, self.context.config
        share = self.options.random_token_fraction if self.pool is not None else 1.0
        random_rows = round(config.batch_size * share)
        parts, stats = [], {}
        if random_rows:
            ids, mask = tokens.random_token_batch(
                context.candidates,
                random_rows,
                config.min_length,
                config.max_length,
                context.teacher.special,
                context.generator,
                context.token_weights,
            )
            ids, mask = ids.to(context.placement.device), mask.to(context.placement.device)
            parts.append((context.vocabulary[ids].float(), mask))
        if config.batch_size - random_rows > 0:
            assert self.pool is not None and self.pool.filled > 0
            index = self.pool.sample(config.batch_size - random_rows, context.generator)
            embeds, mask, labels = self.pool.get(index)
            if self.use_adversarial and step % self.options.adversarial.every == 0:
                embeds, stats = self._harden(embeds, mask, labels)
                self.pool.update(index, embeds)
            parts.append((embeds, mask))
        embeds, mask = _pad_cat(parts)
        inputs, masked, targets = self._mask(embeds, mask)  # both models read the masked rows (the pretext task)
        return SynthBatch(
            attention_mask=mask, inputs_embeds=inputs, extra={"masked": masked, "targets": targets}, stats=stats
        )

    def extra_loss(
        self, batch: SynthBatch, student_out: Any, teacher_out: Any
    ) -> tuple[Tensor, dict[str, float]] | None:
        if self.ss_head is None:
            return None
        ss = pretext.self_supervised_loss(
            self.ss_head,
            student_out.hidden_states[-1],
            batch.extra["masked"],
            batch.extra["targets"],
            self.context.vocabulary,
        )
        return self.options.self_supervised.weight * ss, {"ss": float(ss.detach())}

    def after_step(self, step: int) -> None:
        """[ours] Replace the oldest pool samples by one newly guessed batch every `guess.refresh_every` steps."""
        refresh = self.options.guess.refresh_every
        if self.pool is None or not refresh or step % refresh:
            return
        embeds, mask, labels, init_ids, self.guess_stats = guessing.guess_batch(
            self.context, self.prior, self.context.config.batch_size, self.context.generator
        )
        self.pool.add(embeds, mask, labels, init_ids)

    def parameters(self) -> list[Tensor]:
        return list(self.ss_head.parameters()) if self.ss_head is not None else []

    def diagnostics(self, final: bool = False) -> dict[str, Any]:
        """Agreement on the held-out guessed set, the pool's norms and targets; at the end its size and the last
        guessed batch's stats."""
        self._reference()
        context = self.context
        figures = diagnostics.evaluate_heldout(context.student, [self.heldout], context.placement, context.teacher.head)
        if self.pool is None:
            return figures
        if self.pool.filled:
            count = min(64, self.pool.filled)
            embeds, mask = self.pool.embeds[:count], self.pool.attention_mask[:count]
            vocabulary, candidates = context.vocabulary, context.candidates
            init_ids = self.pool.init_ids[:count]
            figures.update(
                pool_norm_ratio=round(diagnostics.embedding_norm_ratio(embeds, mask, self.token_norm_mean), 4),
                pool_nearest_changed=round(
                    diagnostics.changed_fraction(embeds, init_ids, mask, vocabulary, candidates), 4
                ),
                pool_target_balance=diagnostics.class_balance(
                    F.one_hot(self.pool.labels[: self.pool.filled], context.teacher.num_labels).float()
                ),
            )
        if final:
            figures["pool_size"] = self.pool.filled
            figures.update({f"last_{k}": round(v, 4) for k, v in self.guess_stats.items()})
        return figures

    def state_dict(self) -> dict[str, Any]:
        return {
            "ss_head": self.ss_head.state_dict() if self.ss_head is not None else None,
            "pool": self.pool.state_dict() if self.pool is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ss_head is not None and state.get("ss_head") is not None:
            self.ss_head.load_state_dict(state["ss_head"])
        if self.pool is not None and state.get("pool") is not None:
            self.pool = pools.PseudoPool.from_state_dict(state["pool"], self.context.placement.device)
