"""Held-out probes: fixed synthetic sets the student never trains on, labelled by the teacher, one per input form.

`heldout_random` (uniform random tokens), `heldout_words` (whole words by the Zipf prior) and one `heldout_<form>`
for every other form the teacher's vocabulary can build (`asdfd.compressor.synthesis.form_inputs`: short texts and
questions; for pair teachers edits, short hypotheses, reorderings, unrelated pairs and swapped pairs), whatever the
synthesis method. The real inputs of a task may look like any of them: the student's agreement with the teacher on
each is what the data-free quality estimate reads (`asdfd.compressor.quality_estimate`). Drawn from a generator of
their own (seeded apart from training), so they are the same for every method and do not change what is learned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asdfd.compressor.deferred import deferred

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from asdfd.compressor.synthesis.base import SynthContext

torch = deferred("torch")
form_inputs = deferred("asdfd.compressor.synthesis.form_inputs")
token_inputs = deferred("asdfd.compressor.synthesis.tokens")
word_inputs = deferred("asdfd.compressor.synthesis.words")

__all__ = ["HELDOUT_SEED_OFFSET", "probe_inputs"]

HELDOUT_SEED_OFFSET = 1_000_003
"""The probes' generator is seeded with the run's seed plus this (the training draws never see it)."""


def probe_inputs(context: SynthContext, count: int) -> list[tuple[str, Tensor, Tensor]]:
    """(name, input_ids, attention_mask) of `count` rows per probe, on CPU, deterministic in the run's seed."""
    config, special = context.config, context.teacher.special
    generator = torch.Generator().manual_seed(config.seed + HELDOUT_SEED_OFFSET)
    random_ids = token_inputs.random_token_batch(
        context.candidates, count, config.min_length, config.max_length, special, generator
    )
    words = word_inputs.sample_words(
        word_inputs.word_candidates(context), count, context, word_inputs.WORD_PIECES, generator
    )
    probes = [("heldout_random", *random_ids), ("heldout_words", *words)]
    builder = form_inputs.FormBuilder(context, generator)
    for form in builder.forms:
        if form not in form_inputs.PLAIN_FORMS:  # the first two sets cover these
            probes.append((f"heldout_{form}", *builder.frame(builder.rows(form, count))))
    return probes
