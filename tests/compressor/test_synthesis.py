"""Random-token inputs: the candidates, the vocabulary-rank (Zipf) prior, and weighted draws."""

from __future__ import annotations

import pytest
import torch

from asdfd.compressor import load_teacher
from asdfd.compressor.devices import Placement
from asdfd.compressor.distill_config import DistillConfig
from asdfd.compressor.loop import DistillLoop
from asdfd.compressor.synthesis.tokens import candidate_token_ids, random_token_batch, vocabulary_rank_weights


def _candidates(teacher):
    return candidate_token_ids(teacher.tokenizer, teacher.word_embeddings.shape[0], teacher.special)


def test_rank_weights_follow_vocabulary_order_with_single_characters_last(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir)
    candidates = _candidates(teacher)
    weights = vocabulary_rank_weights(teacher.tokenizer, candidates)
    assert weights.shape == candidates.shape and abs(float(weights.sum()) - 1) < 1e-6
    vocab = teacher.tokenizer.get_vocab()
    position = {int(token_id): index for index, token_id in enumerate(candidates)}
    good, movie, w73, a = (weights[position[vocab[token]]] for token in ("good", "movie", "w73", "a"))
    assert good > movie > w73 > a  # earlier in the vocabulary = more frequent; the one-letter "a" goes last
    torch.testing.assert_close(
        weights[position[vocab["good"]]] / weights[position[vocab["bad"]]], torch.tensor(2.0)
    )  # ranks 1 and 2 under Zipf's law
    uniform = vocabulary_rank_weights(teacher.tokenizer, candidates, exponent=0.0)
    torch.testing.assert_close(uniform, torch.full_like(uniform, 1 / len(candidates)))


def test_weighted_draws_follow_the_weights(tiny_teacher_dir):
    teacher = load_teacher(tiny_teacher_dir)
    candidates = _candidates(teacher)
    only = torch.zeros(len(candidates))
    only[7] = 1.0
    ids, mask = random_token_batch(candidates, 16, 4, 10, teacher.special, torch.Generator().manual_seed(0), only)
    inside = (mask == 1) & (ids != teacher.special.cls) & (ids != teacher.special.sep)
    assert inside.any() and bool((ids[inside] == candidates[7]).all())


@pytest.mark.parametrize("prior", ["uniform", "zipf"])
def test_training_tokens_are_drawn_by_the_prior(tiny_teacher_dir, prior, monkeypatch):
    teacher = load_teacher(tiny_teacher_dir)
    loop = DistillLoop(
        teacher,
        DistillConfig(method="random-tokens", vocab_prior=prior, batch_size=4, max_length=12),
        Placement(device=torch.device("cpu"), precision="fp32"),
    )
    seen = []
    original = random_token_batch

    def recording(*args, **kwargs):
        seen.append(args[6] if len(args) > 6 else kwargs.get("weights"))
        return original(*args, **kwargs)

    monkeypatch.setattr("asdfd.compressor.synthesis.tokens.random_token_batch", recording)  # read on each call
    batch = loop.synthesizer.next_batch(0)
    assert batch.input_ids.shape == batch.attention_mask.shape and batch.input_ids.shape[0] == 4
    assert (seen[0] is None) == (prior == "uniform")
    if prior == "zipf":
        torch.testing.assert_close(seen[0], vocabulary_rank_weights(teacher.tokenizer, loop.context.candidates))


def test_unknown_prior_is_a_one_line_config_error():
    from asdfd.core.errors import ConfigError

    with pytest.raises(ConfigError, match="vocab_prior must be uniform or zipf"):
        DistillConfig(vocab_prior="bigram")
