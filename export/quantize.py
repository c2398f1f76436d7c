"""int8 (dynamic / static, data-free calibration) and fp16 versions of an fp32 graph.

Order follows onnxruntime's guidance: fuse first (asdfd.export.optimize), then `quant_pre_process`
(symbolic shape inference, which understands the fused com.microsoft ops), then quantize. The
Gemm nodes (pooler and classifier head) are never quantized, see `QuantizationPreset.op_types`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import onnx
from onnxruntime.quantization import (
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.transformers.onnx_model import OnnxModel

from asdfd.export.calibration import FeedReader
from asdfd.export.cpu import CpuFeatures
from asdfd.export.export_config import QuantizationPreset, dynamic_preset, fixed_preset, static_preset

__all__ = [
    "preprocess_for_quantization",
    "quantize_dynamic_int8",
    "quantize_static_int8",
    "convert_fp16",
    "auto_candidates",
]

logger = logging.getLogger(__name__)


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ORT's quantizer logs through the root logger (pre-processing hints, per-node notes)."""
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(previous)


def _quant_type(name: str) -> Any:
    return QuantType.QInt8 if name == "qint8" else QuantType.QUInt8


def preprocess_for_quantization(source: Path, target: Path) -> bool:
    """Shape-infer `source` into `target` (no extra optimization: fusions are done already).

    Returns:
        False when pre-processing failed and `target` is a plain copy (quantization still works, but
        tensor types of fused ops are then assumed float).
    """
    # When symbolic shape inference fails on a graph, onnxruntime saves `sym_shape_infer_temp.onnx` and a
    # `<uuid>.data` weights file into the *current* directory before raising: run it inside the scratch folder.
    previous = os.getcwd()
    try:
        os.chdir(target.parent)
        with _quiet_quantizer():
            quant_pre_process(str(source.resolve()), str(target.resolve()), skip_optimization=True)
        return True
    except Exception as err:  # noqa: BLE001 - symbolic shape inference has many failure modes; a copy is safe
        logger.warning("quantization pre-processing failed (%s); quantizing without it", str(err).splitlines()[0])
        shutil.copyfile(source, target)
        return False
    finally:
        os.chdir(previous)


def _extra_options() -> dict[str, Any]:
    # Used only where shape inference could not type a fused op's output (all our tensors are float).
    return {"DefaultTensorType": onnx.TensorProto.FLOAT}


def head_node_names(model_path: Path) -> list[str]:
    """Nodes of the pooler and classifier head (named after the PyTorch modules by the exporter).

    The quantizer first rewrites each Gemm as MatMul + Add named "<gemm>_MatMul", so both names are listed.
    """
    graph = onnx.load(str(model_path), load_external_data=False).graph
    names = [node.name for node in graph.node if "classifier" in node.name or "pooler" in node.name]
    return names + [f"{name}_MatMul" for name in names]


def quantize_dynamic_int8(
    source: Path,
    target: Path,
    preset: QuantizationPreset,
    *,
    op_types: tuple[str, ...] | None = None,
    keep_float: tuple[str, ...] = (),
) -> None:
    """MatMul -> MatMulInteger + DynamicQuantizeLinear (and QAttention / QEmbedLayerNormalization); nodes named in
    `keep_float` stay as they are."""
    exclude = ([] if preset.quantize_head else head_node_names(source)) + list(keep_float)
    with _quiet_quantizer():
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=preset.per_channel,
            reduce_range=preset.reduce_range,
            weight_type=_quant_type(preset.weight_type),
            op_types_to_quantize=list(op_types or preset.op_types),
            nodes_to_exclude=exclude,
            extra_options=_extra_options(),
        )


def quantize_static_int8(
    source: Path, target: Path, preset: QuantizationPreset, reader: FeedReader, *, chunk_batches: int
) -> None:
    """Calibrate on `reader` chunk by chunk (bounded memory), then write QLinearMatMul or QDQ nodes (the preset's
    `float_nodes` stay fp32, its `dynamic_nodes` and attention get a second, dynamic pass)."""
    method = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[preset.calibration_method]
    # CalibStridedMinMax makes ORT call collect_data once per chunk of `chunk_batches` batches and merge
    # the ranges (or histograms) in between. Do not use CalibMaxIntermediateOutputs instead: in ORT 1.32
    # it discards collected outputs without merging them into the ranges.
    extra = {**_extra_options(), "CalibStridedMinMax": chunk_batches}
    head = [] if preset.quantize_head else head_node_names(source)
    dynamic = dynamic_node_names(source, preset.dynamic_nodes)
    kept_float = dynamic_node_names(source, preset.float_nodes)
    kept_float += activation_matmul_names(source) if preset.weight_matmuls_only else []
    second_pass = (("Attention",) if preset.quantize_attention else ()) + (("MatMul",) if dynamic else ())
    static_target = target.with_suffix(".static.onnx") if second_pass else target
    with _quiet_quantizer():
        quantize_static(
            str(source),
            str(static_target),
            reader,
            nodes_to_exclude=head + dynamic + kept_float,
            quant_format=QuantFormat.QDQ if preset.quant_format == "qdq" else QuantFormat.QOperator,
            op_types_to_quantize=list(preset.op_types),
            per_channel=preset.per_channel,
            reduce_range=preset.reduce_range,
            activation_type=_quant_type(preset.activation_type),
            weight_type=_quant_type(preset.weight_type),
            calibrate_method=method,
            calibration_providers=["CPUExecutionProvider"],
            extra_options=extra,
        )
    if second_pass:
        # No static QAttention exists, and the FFN output projections keep per-batch scales: a dynamic
        # pass over what is still float (the head stays excluded). The result is a hybrid graph.
        quantize_dynamic_int8(static_target, target, preset, op_types=second_pass, keep_float=tuple(kept_float))
        static_target.unlink()


def dynamic_node_names(model_path: Path, patterns: tuple[str, ...]) -> list[str]:
    """MatMul nodes whose names match one of `patterns` (regexes)."""
    if not patterns:
        return []
    graph = onnx.load(str(model_path), load_external_data=False).graph
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and any(re.search(pattern, node.name) for pattern in patterns)
    ]


def activation_matmul_names(model_path: Path) -> list[str]:
    """MatMul nodes none of whose inputs is an initializer (attention scores and context in an unfused graph)."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and not set(node.input) & weights]


def convert_fp16(source: Path, target: Path) -> None:
    """fp16 weights and activations (inputs/outputs stay int64/fp32); meant for the CUDA provider."""
    model = OnnxModel(onnx.load(str(source)))
    with _quiet_quantizer():
        model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(target))


def auto_candidates(features: CpuFeatures) -> list[QuantizationPreset]:
    """int8 variants worth timing on this CPU for `--quantize auto` (fp32 is always a candidate too).

    Without VNNI, reduce_range (7-bit weights) is tried next to the full range, since U8S8 kernels may
    saturate; with VNNI it is pointless. QUInt8 weights (U8U8) are tried once: rarely faster on x86. The CPU's
    batch-invariant recipe (`--quantize int8-fixed`) is a candidate too.
    """
    reduce = [False] if features.has_vnni or features.is_arm else [False, True]
    candidates = [dynamic_preset(reduce_range=r) for r in reduce]
    candidates.append(dynamic_preset(weight_type="quint8"))
    if features.is_arm:
        candidates.append(static_preset(activation_type="qint8", quant_format="qdq"))
        candidates.append(fixed_preset(activation_type="qint8", quant_format="qdq"))
    else:
        candidates += [static_preset(reduce_range=r) for r in reduce]
        candidates.append(fixed_preset(reduce_range=not features.has_vnni))
    return candidates
