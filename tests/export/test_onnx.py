"""The exporter: fp32 graph matches PyTorch on padded inputs of several shapes, with dynamic axes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from asdfd.export import ExportConfig, export_onnx


def padded_batch(batch_size: int, length: int, *, seed: int = 0, vocab: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """[CLS] random words [SEP] [PAD]...: row 0 full length, the others shorter (padded)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch_size, length), dtype=np.int64)
    mask = np.zeros((batch_size, length), dtype=np.int64)
    for row in range(batch_size):
        used = length if row == 0 else int(rng.integers(2, length + 1))
        ids[row, :used] = np.concatenate([[2], rng.integers(5, vocab, size=used - 2), [3]])[:used]
        mask[row, :used] = 1
    return ids, mask


def torch_logits(model_dir, feeds: dict[str, np.ndarray]) -> np.ndarray:
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()


def onnx_feeds(session, ids, mask) -> dict[str, np.ndarray]:
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {inp.name: values[inp.name] for inp in session.get_inputs()}


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("length", [5, 17])
def test_fp32_logits_match_pytorch_with_padding(fp32_export, tiny_teacher_dir, batch_size, length):
    session = ort.InferenceSession(str(fp32_export.path), providers=["CPUExecutionProvider"])
    feeds = onnx_feeds(session, *padded_batch(batch_size, length, seed=length))
    actual = session.run(["logits"], feeds)[0]
    expected = torch_logits(tiny_teacher_dir, feeds)
    assert actual.shape == (batch_size, 2)
    np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_graph_has_dynamic_batch_and_sequence_axes(fp32_export):
    graph = onnx.load(str(fp32_export.path)).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        assert all(d.dim_param and not d.dim_value for d in dims), value
    assert [o.name for o in graph.output] == ["logits"]
    assert graph.output[0].type.tensor_type.shape.dim[0].dim_param


def test_fp32_export_is_fused_and_validated(fp32_export):
    assert fp32_export.variant == "fp32"
    assert fp32_export.fusions["attention"] == 2 and fp32_export.fusions["attention_fused"]
    assert fp32_export.fusions["gelu"] == 2
    # CPU graphs keep residual Add + LayerNormalization: onnxruntime's CPU SkipLayerNormalization is slower
    assert fp32_export.fusions["skip_layer_norm"] == 0 and fp32_export.fusions["layer_norm"] == 4
    assert fp32_export.validation["final"]["max_abs_diff"] <= 1e-4
    assert fp32_export.validation["final"]["agreement"] == 1.0
    assert "optimum-onnx" in fp32_export.exporter


def test_no_optimize_keeps_unfused_graph_and_torch_exporter_works(tiny_teacher_dir, tmp_path, fast):
    result = export_onnx(
        tiny_teacher_dir,
        tmp_path / "plain.onnx",
        ExportConfig(quantize="none", optimize=False, exporter="torch", validation=fast, show_progress=False),
    )
    assert result.fusions["attention"] == 0 and not result.optimization["applied"]
    assert "torch.onnx" in result.exporter
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert "Attention" not in ops and "Softmax" in ops
    assert result.validation["final"]["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("quantize", ["none", "int8"])
def test_distilbert_exports_without_token_type_ids(tiny_distilbert_dir, tmp_path, quantize, fast):
    result = export_onnx(
        tiny_distilbert_dir, tmp_path / "d.onnx", ExportConfig(quantize=quantize, validation=fast, show_progress=False)
    )
    assert result.input_names == ("input_ids", "attention_mask")
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    ids, mask = padded_batch(3, 17)
    actual = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]
    expected = torch_logits(tiny_distilbert_dir, {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(actual, expected, atol=1e-4 if quantize == "none" else 5e-2, rtol=0)


def test_roberta_exports_and_matches(tiny_roberta_dir, tmp_path, fast):
    result = export_onnx(
        tiny_roberta_dir, tmp_path / "r.onnx", ExportConfig(quantize="none", validation=fast, show_progress=False)
    )
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    feeds = onnx_feeds(session, *padded_batch(3, 17, seed=3))
    np.testing.assert_allclose(
        session.run(["logits"], feeds)[0], torch_logits(tiny_roberta_dir, feeds), atol=1e-4, rtol=0
    )
    assert result.fusions["attention_fused"]


def test_cuda_graphs_fuse_skip_layer_norm(tmp_path, fast, tiny_teacher_dir):
    from asdfd.export.optimize import optimize_graph

    plain = export_onnx(
        tiny_teacher_dir,
        tmp_path / "plain.onnx",
        ExportConfig(quantize="none", optimize=False, validation=fast, show_progress=False),
    )
    cpu = optimize_graph(plain.path, tmp_path / "cpu.onnx", num_heads=0, hidden_size=0, num_layers=2)
    cuda = optimize_graph(plain.path, tmp_path / "cuda.onnx", num_heads=0, hidden_size=0, num_layers=2, device="cuda")
    assert cpu.attention_fused and cuda.attention_fused
    assert (cpu.skip_layer_norm, cpu.layer_norm) == (0, 4)
    assert cuda.skip_layer_norm == 4 and cuda.layer_norm == 0
