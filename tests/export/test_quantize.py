"""int8 dynamic/static, fp16 and auto: counted quantized nodes, size, agreement with fp32."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from asdfd.export import CalibrationConfig, ExportConfig, dynamic_preset, export_onnx, static_preset

NUM_LAYERS = 2


def op_counts(path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def random_padded_inputs(n: int, length: int, seed: int):
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.full((n, 1), 2), rng.integers(5, 99, size=(n, length - 2)), np.full((n, 1), 3)], axis=1)
    mask = np.ones_like(ids)
    for row in range(1, n, 2):
        mask[row, rng.integers(3, length) :] = 0
    return ids.astype(np.int64), mask.astype(np.int64)


def run(path, ids, mask) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]


def test_int8_dynamic_quantizes_matmuls_per_channel_and_keeps_head_fp32(int8_export, fp32_export):
    counts = op_counts(int8_export.path)
    # 3 MatMuls per layer outside attention (attention output, FFN in, FFN out) -> MatMulInteger;
    # fused attention -> QAttention; embeddings -> QEmbedLayerNormalization.
    assert counts["MatMulInteger"] == 3 * NUM_LAYERS
    assert counts["DynamicQuantizeLinear"] >= 3 * NUM_LAYERS
    assert counts["QAttention"] == NUM_LAYERS and counts["Attention"] == 0
    assert counts["QEmbedLayerNormalization"] == 1
    head = [n for n in onnx.load(str(int8_export.path)).graph.node if "classifier" in n.name]
    assert head and all(n.op_type in ("MatMul", "Add", "Gemm") for n in head), [n.op_type for n in head]
    # per-channel: the weight scales of a MatMulInteger are vectors, not scalars
    graph = onnx.load(str(int8_export.path)).graph
    inits = {i.name: i for i in graph.initializer}
    scales = [inits[n] for n in inits if n.endswith("_scale") and "MatMul" in n and len(inits[n].dims) == 1]
    assert scales and all(s.dims[0] > 1 for s in scales)
    assert int8_export.path.stat().st_size < fp32_export.path.stat().st_size


def test_int8_agrees_with_fp32_on_most_inputs(int8_export, fp32_export):
    ids, mask = random_padded_inputs(64, 20, seed=7)
    fp32, int8 = run(fp32_export.path, ids, mask), run(int8_export.path, ids, mask)
    agreement = float((fp32.argmax(1) == int8.argmax(1)).mean())
    assert agreement >= 0.9
    assert np.abs(fp32 - int8).max() < 0.05
    assert int8_export.validation["final"]["agreement"] >= 0.9
    assert int8_export.validation["final"]["precision"] == "int8"


@pytest.mark.parametrize("ffn_output_dynamic", [True, False])
def test_int8_static_with_data_free_calibration(tiny_teacher_dir, tmp_path, fast, ffn_output_dynamic):
    preset = static_preset(reduce_range=True, ffn_output_dynamic=ffn_output_dynamic)
    config = ExportConfig(
        quantize="int8-static",
        validation=fast,
        show_progress=False,
        preset=preset,
        calibration=CalibrationConfig(source="random", num_samples=48, batch_size=8, chunk_batches=2),
    )
    result = export_onnx(tiny_teacher_dir, tmp_path / "static.onnx", config)
    counts = op_counts(result.path)
    static_per_layer = 2 if ffn_output_dynamic else 3  # FFN output projection left to the dynamic pass
    assert counts["QLinearMatMul"] == static_per_layer * NUM_LAYERS
    assert counts["MatMulInteger"] == (3 - static_per_layer) * NUM_LAYERS
    assert counts["QAttention"] == NUM_LAYERS  # hybrid: dynamic pass for the fused attention
    ffn_out = [n for n in onnx.load(str(result.path)).graph.node if "layer.0/output/dense" in n.name]
    assert {n.op_type for n in ffn_out} >= ({"MatMulInteger"} if ffn_output_dynamic else {"QLinearMatMul"})
    assert result.variant == preset.name and result.variant.startswith("static-u8s8-qoperator-minmax-reduce-range")
    assert result.validation["final"]["agreement"] >= 0.9


def test_embeddings_can_stay_fp32(tiny_teacher_dir, tmp_path, fast, int8_export):
    config = ExportConfig(
        quantize="int8", preset=dynamic_preset(quantize_embeddings=False), validation=fast, show_progress=False
    )
    result = export_onnx(tiny_teacher_dir, tmp_path / "emb.onnx", config)
    counts = op_counts(result.path)
    assert counts["EmbedLayerNormalization"] == 1 and counts["QEmbedLayerNormalization"] == 0
    assert result.path.stat().st_size > int8_export.path.stat().st_size


def test_fp16_converts_weights(tiny_teacher_dir, tmp_path, fast):
    result = export_onnx(
        tiny_teacher_dir, tmp_path / "half.onnx", ExportConfig(quantize="fp16", validation=fast, show_progress=False)
    )
    graph = onnx.load(str(result.path)).graph
    dtypes = Counter(init.data_type for init in graph.initializer)
    assert dtypes[onnx.TensorProto.FLOAT16] > dtypes[onnx.TensorProto.FLOAT]
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # io types kept
    assert result.validation["final"]["agreement"] >= 0.9


def test_auto_keeps_the_fastest_variant_within_budget(tiny_teacher_dir, tmp_path, fast):
    config = ExportConfig(
        quantize="auto",
        max_agreement_drop=0.5,
        validation=fast,
        show_progress=False,
        calibration=CalibrationConfig(num_samples=32, batch_size=8, chunk_batches=2),
    )
    result = export_onnx(tiny_teacher_dir, tmp_path / "auto.onnx", config)
    tried = [c for c in result.candidates if "latency_ms" in c]
    assert {c["variant"] for c in tried} >= {"fp32", "dynamic-s8-per-channel"}
    assert any(c["variant"].startswith("static") for c in tried)
    eligible = [c for c in tried if c["eligible"]]
    assert all(c.get("agreement_drop_points", 0) <= 0.5 for c in eligible)
    assert result.variant == min(eligible, key=lambda c: c["latency_ms"])["variant"]
    # auto decides on a larger set of its own, and says so (it is not the default set, silently swapped)
    assert result.validation_set["name"] == "auto" and result.validation_set["num_samples"] == fast.auto_num_samples
    assert result.validation_set["seed"] == fast.seed + 1
    assert result.validation["fp32"]["num_samples"] == result.validation_set["inputs"]["random"]


@pytest.mark.parametrize("quantize", ["int8", "int8-static"])
def test_preset_mode_must_match_quantize(quantize):
    from asdfd.core.errors import ConfigError

    wrong = static_preset() if quantize == "int8" else dynamic_preset()
    with pytest.raises(ConfigError, match="preset"):
        ExportConfig(quantize=quantize, preset=wrong)


def test_unfused_int8_export_writes_nothing_into_the_working_directory(tiny_teacher_dir, tmp_path, monkeypatch, fast):
    """onnxruntime's shape inference fails on the unfused graph and saves a temp model + `<uuid>.data` into the
    cwd; the exporter runs it inside its scratch folder, so the user's directory stays clean."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    export_onnx(
        tiny_teacher_dir, tmp_path / "s.onnx", ExportConfig(optimize=False, validation=fast, show_progress=False)
    )
    assert list(cwd.iterdir()) == []


def test_int8_fixed_has_no_per_batch_scales(tiny_teacher_dir, tmp_path, fast):
    """--quantize int8-fixed: static int8 with calibrated scales only (nothing dynamic, so the graph is batch-invariant:
    tests/runtime/test_batch_invariance.py); the fused attention and the FFN output projections stay fp32."""
    config = ExportConfig(
        quantize="int8-fixed",
        validation=fast,
        show_progress=False,
        calibration=CalibrationConfig(num_samples=32, batch_size=8, chunk_batches=2),
    )
    result = export_onnx(tiny_teacher_dir, tmp_path / "fixed.onnx", config)
    counts = op_counts(result.path)
    assert counts["DynamicQuantizeLinear"] == 0 and counts["MatMulInteger"] == 0 and counts["QAttention"] == 0
    assert counts["QLinearMatMul"] == 2 * NUM_LAYERS  # attention output and FFN input projections
    assert counts["Attention"] == NUM_LAYERS and counts["QEmbedLayerNormalization"] == 1
    ffn_out = [n for n in onnx.load(str(result.path)).graph.node if "layer.0/output/dense" in n.name]
    assert {n.op_type for n in ffn_out} & {"MatMul"} and not {n.op_type for n in ffn_out} & {"QLinearMatMul"}
    assert result.variant.startswith("fixed-u8s8-qoperator-minmax") and result.variant.endswith("fp32-ffn-output")
    assert result.validation["final"]["passed"]


def test_fixed_presets_fall_back_to_fixed_recipes_only():
    from asdfd.export import fixed_preset
    from asdfd.export.variants import int8_fallbacks

    chain = int8_fallbacks(fixed_preset(ffn_output_fp32=False), dynamic_preset())
    assert [p.name for p in chain] == [
        "fixed-u8s8-qoperator-minmax",
        "fixed-u8s8-qoperator-minmax-fp32-ffn-output",
        "fixed-u8s8-qoperator-minmax-fp32-embeddings-fp32-ffn-output",
    ]
    assert all(p.batch_invariant for p in chain)
    from asdfd.core.errors import ConfigError

    with pytest.raises(ConfigError, match="batch-invariant"):
        ExportConfig(quantize="int8-fixed", preset=static_preset())
    ExportConfig(quantize="int8-fixed", preset=fixed_preset(reduce_range=True))
