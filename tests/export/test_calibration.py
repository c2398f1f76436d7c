"""Data-free inputs: framing, determinism, teacher-guided balance, bounded calibration memory."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from asdfd.core.errors import ConfigError
from asdfd.core.special_tokens import SpecialTokens
from asdfd.export.calibration import (
    FeedReader,
    GuessedTokens,
    RandomTokens,
    TeacherGuidedTokens,
    make_calibration_source,
    num_calibration_batches,
    random_token_batch,
)
from asdfd.export.export_config import CalibrationConfig, ValidationConfig, static_preset
from asdfd.export.quantize import preprocess_for_quantization, quantize_static_int8


@pytest.fixture(scope="module")
def space(tiny_teacher_dir) -> SpecialTokens:
    return SpecialTokens.from_tokenizer(AutoTokenizer.from_pretrained(tiny_teacher_dir), 99)


def test_random_batches_are_framed_padded_and_free_of_special_tokens(space):
    ids, mask = random_token_batch(space, np.random.default_rng(0), 8, 12)
    assert ids.shape == mask.shape == (8, 12) and ids.dtype == np.int64
    lengths = mask.sum(1)
    assert lengths.max() == 12 and lengths.min() >= 3
    for row, length in zip(ids, lengths):
        assert row[0] == space.cls and row[length - 1] == space.sep
        assert (row[length:] == space.pad).all()
        assert not set(row[1 : length - 1].tolist()) & set(space.all_special)


def test_sources_are_deterministic_per_batch(space):
    source = RandomTokens(space, CalibrationConfig(batch_size=4), num_batches=3, seq_length=10)
    a, b = source.batch(1), source.batch(1)
    assert (a[0] == b[0]).all() and not (source.batch(0)[0] == a[0]).all()


class FakeSession:
    """Predicts class 0 for even first tokens, else class 1, confidence growing with the second token."""

    def run(self, names, feeds):
        ids = feeds["input_ids"]
        sign = np.where(ids[:, 1] % 2 == 0, 1.0, -1.0) * ids[:, 2]
        return [np.stack([sign, -sign], axis=1).astype(np.float32)]


def test_teacher_guided_source_balances_classes_and_prefers_confident(space):
    config = CalibrationConfig(source="teacher-guided", batch_size=8, oversample=4)
    source = TeacherGuidedTokens(space, config, 2, 12, FakeSession(), ("input_ids", "attention_mask"))
    ids, mask = source.batch(0)
    predicted = FakeSession().run(None, {"input_ids": ids})[0].argmax(1)
    assert ids.shape[0] == 8 and abs(int(predicted.sum()) - 4) <= 1
    candidates, _ = random_token_batch(space, np.random.default_rng([0, 0, 1]), 32, 12)
    assert np.abs(ids[:, 2]).mean() >= np.abs(candidates[:, 2]).mean()


def test_guessed_source_needs_samples_from_the_caller(space):
    config = CalibrationConfig(source="guessed", batch_size=4)
    with pytest.raises(ConfigError, match="guessed"):
        make_calibration_source(config, space=space, max_length=8, fp32_session=None, input_names=("input_ids",))
    samples = random_token_batch(space, np.random.default_rng(0), 6, 8)
    source = make_calibration_source(
        config, space=space, max_length=8, fp32_session=None, input_names=("input_ids",), samples=samples
    )
    ids, mask = source.batch(2)  # rows wrap around the 6 samples
    assert ids.shape == (4, 8) and mask.dtype == np.int64
    with pytest.raises(ConfigError, match="shapes"):
        GuessedTokens((samples[0], samples[1][:, :3]), config, 2)


def test_calibration_holds_one_chunk_at_a_time(fp32_export, tmp_path, monkeypatch, space):
    from onnxruntime.quantization.calibrate import MinMaxCalibrater

    config = CalibrationConfig(source="random", num_samples=50, batch_size=4, chunk_batches=3)
    num_batches = num_calibration_batches(config)
    assert num_batches % 3 == 0 and num_batches * 4 >= 50
    peak = []
    original = MinMaxCalibrater.collect_data

    def spy(self, reader):
        original(self, reader)
        peak.append(len(self.intermediate_outputs))  # cleared after each chunk
        return None

    collected: list[int] = []
    real_get_next = FeedReader.get_next

    def counting_get_next(self):
        item = real_get_next(self)
        if item is not None:
            collected.append(1)
        return item

    monkeypatch.setattr(MinMaxCalibrater, "collect_data", spy)
    monkeypatch.setattr(FeedReader, "get_next", counting_get_next)
    reader = FeedReader(RandomTokens(space, config, num_batches, 12), ("input_ids", "attention_mask", "token_type_ids"))
    pre = tmp_path / "pre.onnx"
    preprocess_for_quantization(fp32_export.path, pre)
    quantize_static_int8(pre, tmp_path / "s.onnx", static_preset(), reader, chunk_batches=3)
    assert len(peak) == num_batches // 3 and set(peak) == {0}
    assert reader.max_batches_per_range == 3 and sum(collected) == num_batches
    assert (tmp_path / "s.onnx").is_file()


def test_guessed_source_with_the_real_compressor(tiny_teacher_dir, tmp_path):
    """`compress export --calibration guessed` decodes the compressor's pseudo-samples and calibrates on them."""
    from asdfd.compressor import decode_pseudo_samples
    from asdfd.export import ExportConfig
    from asdfd.pipeline import export_artifact

    ids, mask = decode_pseudo_samples(tiny_teacher_dir, 4, max_length=12)
    assert ids.shape == mask.shape == (4, 12) and ids.dtype == np.int64
    assert (mask.sum(1) >= 3).all() and (ids[:, 0] == 2).all()  # [CLS] first
    config = ExportConfig(
        quantize="int8-static",
        show_progress=False,
        optimize=False,
        calibration=CalibrationConfig(source="guessed", num_samples=8, batch_size=4, seq_length=12),
        validation=ValidationConfig(num_samples=8, confident_samples=8, latency_runs=2),
    )
    result = export_artifact(tiny_teacher_dir, tmp_path / "g.onnx", config)
    assert result.path.is_file()


def test_histogram_calibration_on_teacher_guided_batches(fp32_export, tmp_path, space):
    """Percentile calibration stacks batches, so every batch of a source must have the same width."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(fp32_export.path), providers=["CPUExecutionProvider"])
    names = ("input_ids", "attention_mask", "token_type_ids")
    config = CalibrationConfig(source="teacher-guided", batch_size=4, num_samples=16, chunk_batches=2)
    source = TeacherGuidedTokens(space, config, num_calibration_batches(config), 12, session, names)
    assert {source.batch(i)[0].shape for i in range(source.num_batches)} == {(4, 12)}
    pre = tmp_path / "pre.onnx"
    preprocess_for_quantization(fp32_export.path, pre)
    quantize_static_int8(
        pre,
        tmp_path / "p.onnx",
        static_preset(calibration_method="percentile"),
        FeedReader(source, names),
        chunk_batches=2,
    )
    assert (tmp_path / "p.onnx").is_file()


def big_vocabulary_space(vocab_size: int = 30_000) -> SpecialTokens:
    return SpecialTokens(cls=2, sep=3, pad=0, mask=4, all_special=(0, 1, 2, 3, 4), vocab_size=vocab_size)


def test_random_batches_feed_the_top_of_the_vocabulary():
    """Uniform draws from 30,000 ids almost never reach the last ones; every generated batch does."""
    from asdfd.export.calibration import TOP_OF_VOCABULARY

    big = big_vocabulary_space()
    highest = big.ordinary_ids()[-1]
    for seed, (size, width, padded) in enumerate([(1, 3, True), (4, 9, False), (16, 40, True), (3, 2, True)]):
        ids, mask = random_token_batch(big, np.random.default_rng(seed), size, width, padded=padded)
        if width < 3:
            continue  # [CLS] [SEP]: no room for a token
        assert ids[0, 1] == highest
        body = ids[:, 1:][mask[:, 1:] == 1]
        assert not set(body.tolist()) & set(big.all_special[:2]) and ids.max() < big.vocab_size
        top = big.ordinary_ids()[-TOP_OF_VOCABULARY]
        assert all((row[1 : length - 1] >= top).any() for row, length in zip(ids, mask.sum(1))), ids
    pairs = big.for_pairs(1)
    ids, _ = random_token_batch(pairs, np.random.default_rng(0), 8, 20)
    assert ids[0, 1] == highest  # first token of the first text


def test_export_validation_catches_an_embedding_row_broken_at_the_end(tmp_path, monkeypatch, fast):
    """A graph whose last embedding row differs from PyTorch's (a table cut or corrupted at its end, a tokenizer
    that does not match it) fails validation: the generated inputs always contain the highest token ids."""
    import onnx
    from onnx import numpy_helper
    from transformers import BertTokenizerFast

    import asdfd.export.exporter as exporter
    from asdfd.core.errors import ValidationError
    from asdfd.export import ExportConfig, export_onnx
    from tests.conftest import build_tiny_teacher

    vocab_size = 30_000
    folder = build_tiny_teacher(tmp_path / "teacher", vocab_size=vocab_size)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(vocab_size - 5)]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer.json").unlink()
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    real_export = exporter.export_fp32_graph

    def broken_at_the_end(*args, **kwargs):
        graph = real_export(*args, **kwargs)
        model = onnx.load(str(graph.path))
        for init in model.graph.initializer:
            if "word_embeddings" in init.name:
                table = numpy_helper.to_array(init).copy()
                table[-1] = np.random.default_rng(0).normal(0, 3, size=table.shape[1])
                init.CopyFrom(numpy_helper.from_array(table, init.name))
        onnx.save(model, str(graph.path))
        return graph

    config = ExportConfig(quantize="none", optimize=False, show_progress=False, validation=fast)
    export_onnx(folder, tmp_path / "good.onnx", config)  # the same export, unbroken, passes
    monkeypatch.setattr(exporter, "export_fp32_graph", broken_at_the_end)
    with pytest.raises(ValidationError, match="does not match PyTorch"):
        export_onnx(folder, tmp_path / "broken.onnx", config)
