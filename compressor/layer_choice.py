"""The teacher chooses which of its layers the student keeps (`StudentConfig.layer_choice` "auto").

Which layers are kept matters as much as how many: on a prototype SST-2 teacher the floors (the cut student, no
training) of 2-3 layer sets ranged from 0.55 to 0.77 (docs/method.md, section 'Measured here'). Instead of the fixed
spread, "auto" cuts a student from every set of that many layers (all of them when there are at most
`MAX_EXHAUSTIVE`; else the spread, the ends, evenly strided sets and a greedy forward selection) and scores each,
untrained, against the teacher on synthetic held-out inputs: whole words by the Zipf prior, as the loop's
`heldout_words` set is made, but from a generator of their own (`LAYER_CHOICE_SEED_OFFSET`), so neither the training
stream nor the quality estimate's held-out set is touched. The chosen set is the one the teacher agrees with most
(`RULE`); each set's KD loss and [CLS] similarity are recorded beside it. On the SST-2 MiniLM-L6 teacher (2/3 of the
FFN, 512 words), agreement ranked the cuts as their real dev floors do: Spearman 0.95 over the 15 sets of 2 layers,
0.98 over the 20 of 3 (KD loss -0.07 and 0.73, [CLS] cosine 0.36 and 0.74), and chose the best floor each time,
{0,5} (0.681) and {0,2,5} (0.749), which are also the spreads; `benchmarks/bench_layers.py --candidates` prints
this table for any teacher.

    choice = choose_student_layers(teacher, config, placement)   # the loop, before the student is built
    student, layers = build_student(teacher, config.student, layers=choice.chosen)

The time it takes counts against the run's budget (`DistillLoop`), and it runs under `torch.random.fork_rng`:
cutting a narrowed student initialises new modules, which would otherwise advance torch's global RNG.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from asdfd.compressor.devices import Placement, broadcast_object
from asdfd.compressor.distill_config import DistillConfig, StudentConfig
from asdfd.compressor.frozen_teacher import Teacher
from asdfd.compressor.head_losses import TaskHead
from asdfd.compressor.student import cut_student, select_layers, spread_layers, student_depth
from asdfd.compressor.synthesis.base import SynthContext
from asdfd.compressor.synthesis.tokens import candidate_token_ids
from asdfd.compressor.synthesis.words import WORD_PIECES, sample_words, word_candidates

__all__ = [
    "LAYER_CHOICE_SEED_OFFSET",
    "MAX_EXHAUSTIVE",
    "RULE",
    "ChoiceInputs",
    "LayerScore",
    "LayerChoice",
    "candidate_sets",
    "fixed_sets",
    "greedy_set",
    "ranked",
    "score_model",
    "choose_layers",
    "choice_inputs",
    "choose_student_layers",
]

logger = logging.getLogger(__name__)

LAYER_CHOICE_SEED_OFFSET = 2_000_029
"""The choice's held-out words come from `seed + this`: apart from training draws and the loop's held-out sets."""
MAX_EXHAUSTIVE = 30
"""Score every set of layers when there are at most this many (6 layers: up to C(6,3) = 20); else a subset."""
RULE = "highest agreement with the teacher on held-out words, ties broken by the lowest KD loss (T=1)"
"""How the scores pick a set (distill.json records it with them)."""


@dataclasses.dataclass(frozen=True)
class ChoiceInputs:
    """Synthetic held-out inputs and what the teacher makes of them."""

    embeds: Tensor
    """(N, L, d) the inputs as the models read them (`Teacher.embed_ids`)."""
    attention_mask: Tensor
    """(N, L)."""
    teacher_logits: Tensor
    """(N, C) float32."""
    teacher_cls: Tensor
    """(N, d) float32: the teacher's last hidden state at the first position (what its pooler reads)."""


@dataclasses.dataclass(frozen=True)
class LayerScore:
    """One set of teacher layers, cut and untrained, scored against the teacher."""

    layers: tuple[int, ...]
    agreement: float
    """As the head defines it (same class; same decision per label; Pearson of scores); higher is better."""
    kd: float
    """The head's distillation loss at T=1 (KL of softmaxes, per-label binary KL, score MSE); lower is better."""
    cls_cosine: float
    """Mean cosine of the last hidden state at the first position, student vs teacher; recorded, not ranked by."""

    def key(self) -> tuple:
        """Sort key of `RULE`, best first; an undefined figure (a constant score head's Pearson) ranks last, and the
        layers break exact ties so the order is total."""
        agreement = self.agreement if math.isfinite(self.agreement) else -math.inf
        kd = self.kd if math.isfinite(self.kd) else math.inf
        return (-agreement, kd, self.layers)

    def to_dict(self) -> dict:
        def shown(value: float, digits: int) -> float | None:
            return round(value, digits) if math.isfinite(value) else None

        return {
            "layers": list(self.layers),
            "agreement": shown(self.agreement, 4),
            "kd": shown(self.kd, 5),
            "cls_cosine": shown(self.cls_cosine, 4),
        }


@dataclasses.dataclass(frozen=True)
class LayerChoice:
    """The teacher's choice, with the reference spread and every scored set (best first)."""

    chosen: list[int]
    spread: list[int]
    rule: str
    scores: list[LayerScore]
    exhaustive: bool
    """Every set of that depth was scored (else a subset: `fixed_sets` and `greedy_set`)."""
    samples: int
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """distill.json's `metrics.layer_choice`."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "scores"}
        out["seconds"] = round(self.seconds, 2)
        out["scores"] = [score.to_dict() for score in self.scores]
        return out


def fixed_sets(num_layers: int, count: int) -> list[tuple[int, ...]]:
    """Sets worth scoring whatever the teacher: the spread, the first layers plus the last, the last `count`, and
    evenly strided sets (ending at the last layer, or starting at the first and ending at the last); no repeats."""
    sets = [
        tuple(spread_layers(num_layers, count)),
        (*range(count - 1), num_layers - 1),
        tuple(range(num_layers - count, num_layers)),
    ]
    for stride in range(1, (num_layers - 1) // max(1, count - 1) + 1):
        sets.append(tuple(num_layers - 1 - stride * j for j in reversed(range(count))))
        sets.append((*(stride * j for j in range(count - 1)), num_layers - 1))
    valid = [s for s in sets if len(set(s)) == count and min(s) >= 0 and max(s) < num_layers]
    return list(dict.fromkeys(tuple(sorted(s)) for s in valid))


def candidate_sets(num_layers: int, count: int, max_exhaustive: int = MAX_EXHAUSTIVE) -> tuple[list, bool]:
    """(sets to score, whether that is all of them): every combination when there are at most `max_exhaustive`,
    else `fixed_sets` (the caller adds `greedy_set`)."""
    if math.comb(num_layers, count) <= max_exhaustive:
        return list(itertools.combinations(range(num_layers), count)), True
    return fixed_sets(num_layers, count), False


def greedy_set(num_layers: int, count: int, score: Callable[[tuple[int, ...]], LayerScore]) -> tuple[int, ...]:
    """Forward selection: from no layer, add the one whose cut student (of the layers so far plus it) scores best,
    `count` times; `score(layers)` scores a sorted set of any size."""
    chosen: tuple[int, ...] = ()
    for _ in range(count):
        options = [tuple(sorted((*chosen, layer))) for layer in range(num_layers) if layer not in chosen]
        chosen = min((score(option) for option in options), key=LayerScore.key).layers
    return chosen


def ranked(scores: list[LayerScore]) -> list[LayerScore]:
    """`scores` best first by `RULE`."""
    return sorted(scores, key=LayerScore.key)


@torch.no_grad()
def _forward(model: nn.Module, inputs: ChoiceInputs | tuple, placement: Placement, batch_size: int = 64):
    """(logits (N, C), last hidden state at position 0 (N, d)), float32, in eval mode."""
    embeds, mask = (inputs.embeds, inputs.attention_mask) if isinstance(inputs, ChoiceInputs) else inputs
    was_training = model.training
    model.eval()
    logits, cls = [], []
    for start in range(0, len(embeds), batch_size):
        rows = mask[start : start + batch_size]
        width = int(rows.sum(1).max())  # rows come sorted by length (`choice_inputs`): little padding is computed
        with placement.autocast():
            out = model(
                inputs_embeds=embeds[start : start + batch_size, :width],
                attention_mask=rows[:, :width],
                output_hidden_states=True,
            )
        logits.append(out.logits.float())
        cls.append(out.hidden_states[-1][:, 0].float())
    model.train(was_training)
    return torch.cat(logits), torch.cat(cls)


def score_model(model: nn.Module, inputs: ChoiceInputs, head: TaskHead, placement: Placement) -> dict[str, float]:
    """{agreement, kd, cls_cosine} of `model` against the teacher on `inputs` (no gradient)."""
    logits, cls = _forward(model, inputs, placement)
    return {
        "agreement": float(head.agreement(logits, inputs.teacher_logits)),
        "kd": float(head.kd(logits, inputs.teacher_logits, 1.0)),
        "cls_cosine": float(torch.nn.functional.cosine_similarity(cls, inputs.teacher_cls, dim=-1).mean()),
    }


def choose_layers(
    teacher: Teacher,
    student: StudentConfig,
    inputs: ChoiceInputs,
    placement: Placement,
    *,
    max_exhaustive: int = MAX_EXHAUSTIVE,
) -> LayerChoice:
    """Score candidate layer sets of the student's depth by their cut (untrained, narrowed as `student` says)
    students against the teacher on `inputs`, and choose by `RULE`. Deterministic for given inputs; draws from
    torch's global RNG (wrap it in `fork_rng` inside a run: `choose_student_layers` does)."""
    num_layers = teacher.num_layers
    count = student_depth(num_layers, student)
    spread = select_layers(num_layers, StudentConfig(num_layers=count))  # the reference (and its checks)
    memo: dict[tuple[int, ...], LayerScore] = {}

    def score(layers: tuple[int, ...]) -> LayerScore:
        if layers not in memo:
            model = cut_student(teacher, student, list(layers))
            memo[layers] = LayerScore(layers, **score_model(model, inputs, teacher.head, placement))
            del model
        return memo[layers]

    sets, exhaustive = candidate_sets(num_layers, count, max_exhaustive)
    scores = [score(tuple(layers)) for layers in sets]
    if not exhaustive:
        best = greedy_set(num_layers, count, score)
        scores += [] if best in sets else [memo[best]]
    scores = ranked(scores)
    return LayerChoice(
        chosen=list(scores[0].layers),
        spread=spread,
        rule=RULE,
        scores=scores,
        exhaustive=exhaustive,
        samples=len(inputs.embeds),
    )


def choice_inputs(teacher: Teacher, config: DistillConfig, placement: Placement) -> ChoiceInputs:
    """`config.student.layer_choice_samples` held-out word sequences (the loop's `heldout_words` recipe, lengths as
    the run's), from a generator seeded `config.seed + LAYER_CHOICE_SEED_OFFSET`, with the teacher's outputs."""
    generator = torch.Generator().manual_seed(config.seed + LAYER_CHOICE_SEED_OFFSET)
    vocab_size = teacher.word_embeddings.shape[0]
    context = SynthContext(
        teacher=teacher,
        config=config,
        placement=placement,
        generator=generator,
        candidates=candidate_token_ids(teacher.tokenizer, vocab_size, teacher.special, config.vocab_filter),
        token_weights=None,
    )
    count = config.student.layer_choice_samples
    ids, mask = sample_words(word_candidates(context), count, context, WORD_PIECES, generator)
    order = mask.sum(1).argsort(stable=True)  # by length, so each batch of `_forward` is cut to its longest row
    ids, mask = ids[order], mask[order]
    ids, mask = ids.to(placement.device), mask.to(placement.device)
    embeds = teacher.embed_ids(ids)
    logits, cls = _forward(teacher.model, (embeds, mask), placement)
    return ChoiceInputs(embeds=embeds, attention_mask=mask, teacher_logits=logits, teacher_cls=cls)


@contextlib.contextmanager
def _global_rng_untouched(placement: Placement) -> Iterator[None]:
    """torch's global CPU (and this device's CUDA) RNG as it was before, whatever ran inside."""
    devices = [placement.device] if placement.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def choose_student_layers(teacher: Teacher, config: DistillConfig, placement: Placement) -> LayerChoice:
    """The loop's entry: the held-out words, the scores and the choice, timed, logged, the same on every rank (rank
    0's), leaving torch's global RNG and the run's generator as they were."""
    started = time.perf_counter()
    with _global_rng_untouched(placement):
        choice = choose_layers(teacher, config.student, choice_inputs(teacher, config, placement), placement)
    choice = broadcast_object(choice, placement)
    choice = dataclasses.replace(choice, seconds=time.perf_counter() - started)
    best, spread = choice.scores[0], next((s for s in choice.scores if list(s.layers) == choice.spread), None)
    logger.info(
        "layer choice: the teacher keeps layers %s (agreement %.4f, KD %.4g) against the spread %s (%s); "
        "%d sets scored on %d held-out words in %.1f s",
        choice.chosen,
        best.agreement,
        best.kd,
        choice.spread,
        f"agreement {spread.agreement:.4f}, KD {spread.kd:.4g}" if spread else "not scored",
        len(choice.scores),
        choice.samples,
        choice.seconds,
    )
    logger.info(
        "layer choice scores (agreement/KD/[CLS] cosine): %s",
        "  ".join(
            f"{','.join(map(str, s.layers))}={s.agreement:.3f}/{s.kd:.3g}/{s.cls_cosine:.3f}" for s in choice.scores
        ),
    )
    if config.max_seconds is not None and choice.seconds > 0.25 * config.max_seconds:
        logger.warning(
            "the layer choice took %.0f s of the %.0f s budget: lower student.layer_choice_samples",
            choice.seconds,
            config.max_seconds,
        )
    return choice
