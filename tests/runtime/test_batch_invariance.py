"""The same text gets the same outputs whatever its batch, on a tiny student.

`predict([t])` must equal t's row of `predict(texts)` bit for bit, for batch sizes 1, 3 and 32, in any order, with
the padding a batch of texts of different lengths brings. The default artifact (`--quantize int8`, dynamic int8)
computes one activation scale per batch tensor, padding included, so the runtime runs it one unpadded text at a time;
`--quantize int8-fixed` (fixed, calibrated scales) and fp32 graphs are invariant as graphs and run whole batches.
`Classifier.load(..., batch_invariant=False)` batches dynamic graphs as before: the test shows that this is NOT
invariant, so it would catch a regression. (On the tiny model the differences are ~1e-6 in probability and flip no
label; on real-size students they flip some: tests/test_slow_minilm.py.)
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from asdfd.export import ExportConfig, ValidationConfig, export_onnx
from asdfd.runtime import Classifier
from tests.conftest import WORDS

FAST = ValidationConfig(num_samples=32, latency_runs=3)


def texts_of_many_lengths(n: int = 40, seed: int = 0) -> list[str]:
    """`n` texts of 1 to 60 words (the tiny model's 64 positions: some are truncated), so batches pad a lot."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]


@pytest.fixture(scope="module")
def artifacts(tiny_teacher_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("invariance")

    def export(quantize):
        config = ExportConfig(quantize=quantize, show_progress=False, validation=FAST)
        return export_onnx(tiny_teacher_dir, folder / f"{quantize}.onnx", config)

    return {quantize: export(quantize) for quantize in ("int8", "int8-fixed", "none")}


def assert_batch_invariant(classifier: Classifier, texts: list[str]) -> None:
    alone = np.concatenate([classifier.predict_proba([text]) for text in texts])
    orders = {
        "input": list(range(len(texts))),
        "reversed": list(range(len(texts)))[::-1],
        "shuffled": random.Random(1).sample(range(len(texts)), len(texts)),
    }
    for batch_size in (1, 3, 32):
        for name, order in orders.items():
            batch = [texts[i] for i in order]
            probs = classifier.predict_proba(batch, batch_size=batch_size)
            assert np.array_equal(probs, alone[order]), (batch_size, name, np.abs(probs - alone[order]).max())
            labels = [p.label for p in classifier.predict(batch, batch_size=batch_size)]
            assert labels == [classifier.labels[k] for k in alone[order].argmax(1)]
    # the same text twice in one batch, padded by a long neighbour
    probs = classifier.predict_proba([texts[0], texts[1] * 3, texts[0]], batch_size=3)
    assert np.array_equal(probs[0], alone[0]) and np.array_equal(probs[2], alone[0])


@pytest.mark.parametrize("quantize", ["int8", "int8-fixed", "none"])
def test_every_artifact_is_batch_invariant_in_the_runtime(artifacts, quantize):
    result = artifacts[quantize]
    assert result.validation["final"]["passed"]
    classifier = Classifier.load(result.path, threads=1)
    assert classifier.batch_invariant
    # dynamic int8 runs one text at a time; graphs with fixed scales (or none) run whole batches
    assert classifier.one_text_per_run == (quantize == "int8")
    assert result.variant.startswith({"int8": "dynamic-", "int8-fixed": "fixed-", "none": "fp32"}[quantize])
    assert_batch_invariant(classifier, texts_of_many_lengths())


def test_dynamic_int8_run_in_batches_is_not_batch_invariant(artifacts):
    """What the default artifact did before, and still does with batch_invariant=False: per-batch activation scales
    change a text's outputs with its batch."""
    classifier = Classifier.load(artifacts["int8"].path, threads=1, batch_invariant=False)
    assert not classifier.batch_invariant and not classifier.one_text_per_run
    texts = texts_of_many_lengths()
    alone = np.concatenate([classifier.predict_proba([text]) for text in texts])
    changed = (alone != classifier.predict_proba(texts, batch_size=32)).any(axis=1)
    assert changed.sum() >= len(texts) // 2, int(changed.sum())
    # the fixed-scale graph stays invariant even when batched (batch_invariant=False changes nothing for it)
    fixed = Classifier.load(artifacts["int8-fixed"].path, threads=1, batch_invariant=False)
    assert fixed.batch_invariant and not fixed.one_text_per_run
    assert_batch_invariant(fixed, texts)


def test_int8_recipes_agree_with_fp32(artifacts):
    """Invariance is not bought with accuracy: on the tiny model both int8 recipes match fp32 closely."""
    texts = texts_of_many_lengths(80, seed=2)
    reference = Classifier.load(artifacts["none"].path, threads=1).predict_proba(texts)
    for quantize in ("int8", "int8-fixed"):
        probs = Classifier.load(artifacts[quantize].path, threads=1).predict_proba(texts)
        assert np.abs(probs - reference).max() < 0.05, quantize
        assert (probs.argmax(1) == reference.argmax(1)).mean() >= 0.9, quantize


def test_scales_per_batch_reads_the_provenance():
    from asdfd.export import dynamic_preset, fixed_preset, static_preset
    from asdfd.runtime.classifier import scales_per_batch

    def recipe(preset):
        return {"quantization": {**preset.__dict__, "dynamic_nodes": list(preset.dynamic_nodes)}}

    assert scales_per_batch(recipe(dynamic_preset()))
    assert scales_per_batch(recipe(static_preset()))  # dynamic FFN outputs and attention
    assert scales_per_batch(recipe(static_preset(ffn_output_dynamic=False)))  # the dynamic QAttention pass
    assert not scales_per_batch(recipe(fixed_preset())) and not scales_per_batch(
        recipe(fixed_preset(ffn_output_fp32=False))
    )
    assert not scales_per_batch({"quantization": None})  # fp32 / fp16
    assert scales_per_batch({})  # says nothing: assume the worst
    assert (
        fixed_preset().batch_invariant and not static_preset().batch_invariant and not dynamic_preset().batch_invariant
    )


def test_rows_are_cut_to_their_own_length():
    from asdfd.runtime.classifier import _unpadded_rows

    ids = np.array([[2, 7, 3, 0, 0], [2, 7, 8, 9, 3], [0, 2, 7, 3, 0]])
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]])
    rows = _unpadded_rows({"input_ids": ids, "attention_mask": mask})
    assert [row["input_ids"].tolist() for row in rows] == [[[2, 7, 3]], [[2, 7, 8, 9, 3]], [[0, 2, 7, 3, 0]]]
    assert rows[2]["attention_mask"].tolist() == [[0, 1, 1, 1, 0]]  # not right-padded: kept whole
    assert [row["input_ids"].shape for row in _unpadded_rows({"input_ids": ids})] == [(1, 5)] * 3  # no mask


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_single_text_calls_run_side_by_side_and_stay_invariant(artifacts, threads):
    """A batch's single-text calls are spread over as many one-thread sessions as the session has threads (the speed
    of batching, measured in docs/export_results.md); outputs stay those of each text alone, bit for bit."""
    classifier = Classifier.load(artifacts["int8"].path, threads=threads)
    assert classifier.one_text_per_run and classifier._row_workers == threads
    assert_batch_invariant(classifier, texts_of_many_lengths())
    if threads > 1:  # the workers' own sessions were made and used
        assert classifier._row_pool is not None
