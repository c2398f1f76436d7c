"""Stage 1 and the adversarial step: what moves (pseudo embeddings at free positions) and what does not."""

from __future__ import annotations

import numpy as np
import torch

from asdfd.compressor import GuessConfig, decode_pseudo_samples, load_teacher
from asdfd.compressor.asdfd_method.adversarial import harden_embeddings
from asdfd.compressor.asdfd_method.embedding_guess import draw_targets, guess_embeddings, init_pseudo_embeddings
from asdfd.compressor.devices import Placement
from asdfd.compressor.synthesis.tokens import candidate_token_ids, free_positions

CPU = Placement(device=torch.device("cpu"), precision="fp32")


def _start(teacher, count=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    candidates = candidate_token_ids(teacher.tokenizer, teacher.word_embeddings.shape[0], teacher.special)
    embeds, mask, _ = init_pseudo_embeddings(teacher, candidates, count, 6, 14, "tokens", generator)
    labels = draw_targets(torch.tensor([0.5, 0.5]), count, "balanced", generator)
    return embeds, mask, labels


def _confidence(teacher, embeds, mask, labels) -> float:
    with torch.no_grad():
        probabilities = teacher.model(inputs_embeds=embeds, attention_mask=mask).logits.softmax(-1)
    return float(probabilities.gather(1, labels[:, None]).mean())


def test_stage1_raises_teacher_confidence_in_targets(rule_teacher_dir):
    teacher = load_teacher(rule_teacher_dir)
    embeds, mask, labels = _start(teacher)
    before = _confidence(teacher, embeds, mask, labels)
    config = GuessConfig(steps=15, lr=0.05, stop_confidence=None, label_smoothing=0.0)
    guessed, stats = guess_embeddings(teacher, embeds, mask, labels, config, CPU)
    after = _confidence(teacher, guessed, mask, labels)
    assert after > before + 0.3 and after > 0.8, (before, after)
    assert abs(stats["guess_confidence"] - after) < 1e-4
    # [CLS], [SEP] and padding rows never move; renormalised free rows keep their token norms.
    fixed = ~free_positions(mask)
    torch.testing.assert_close(guessed[fixed], embeds[fixed])
    free = free_positions(mask)
    torch.testing.assert_close(guessed[free].norm(dim=-1), embeds[free].norm(dim=-1), rtol=1e-4, atol=1e-5)
    assert (guessed[free] - embeds[free]).abs().max() > 0.01


def test_gradients_reach_pseudo_embeddings_not_frozen_parts(rule_teacher_dir):
    teacher = load_teacher(rule_teacher_dir)
    embeds, mask, labels = _start(teacher, count=4)
    embeds.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(teacher.model(inputs_embeds=embeds, attention_mask=mask).logits, labels)
    loss.backward()
    assert embeds.grad is not None and embeds.grad[free_positions(mask)].abs().sum() > 0
    assert all(parameter.grad is None for parameter in teacher.model.parameters())
    assert all(not parameter.requires_grad for parameter in teacher.model.parameters())


def test_adversarial_step_moves_only_free_rows(rule_teacher_dir):
    teacher = load_teacher(rule_teacher_dir)
    embeds, mask, labels = _start(teacher, count=8)
    snapshot = {k: v.clone() for k, v in teacher.model.state_dict().items()}

    def objective(current):
        logits = teacher.model(inputs_embeds=current, attention_mask=mask).logits
        return -torch.nn.functional.cross_entropy(logits, labels), {}

    free = free_positions(mask)
    harder, _ = harden_embeddings(embeds, free, objective, steps=2, lr=0.05, target_norms=embeds.norm(dim=-1))
    torch.testing.assert_close(harder[~free], embeds[~free])
    assert (harder[free] - embeds[free]).abs().max() > 0.01
    for key, value in teacher.model.state_dict().items():
        torch.testing.assert_close(value, snapshot[key])


def test_decode_pseudo_samples_gives_calibration_token_ids(rule_teacher_dir):
    input_ids, attention_mask = decode_pseudo_samples(rule_teacher_dir, 10, seed=1, max_length=12)
    assert input_ids.shape == attention_mask.shape == (10, 12)
    assert input_ids.dtype == np.int64 and attention_mask.dtype == np.int64
    lengths = attention_mask.sum(1)
    assert (input_ids[:, 0] == 2).all() and (input_ids[np.arange(10), lengths - 1] == 3).all()
    body = np.concatenate([row[1 : n - 1] for row, n in zip(input_ids, lengths)])
    assert len(body) and not np.isin(body, [0, 1, 2, 3, 4]).any()  # no special tokens inside
    again, _ = decode_pseudo_samples(rule_teacher_dir, 10, seed=1, max_length=12)
    np.testing.assert_array_equal(input_ids, again)
