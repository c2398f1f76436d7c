"""What `export_onnx` does, as frozen dataclasses (one per concern), validated on construction.

`ExportConfig` is the one config of the export verb; `QuantizationPreset` describes one int8 recipe
(optimum-onnx's `AutoQuantizationConfig.avx2/avx512_vnni/arm64` idea, as plain data), and the named
presets below are what `--quantize int8|int8-fixed|int8-static|auto` choose from, depending on the CPU.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Literal

from asdfd.core.errors import ConfigError

__all__ = [
    "QUANTIZE_CHOICES",
    "CALIBRATION_SOURCES",
    "QuantizationPreset",
    "CalibrationConfig",
    "ValidationConfig",
    "ExportConfig",
    "PRESETS",
    "dynamic_preset",
    "static_preset",
    "fixed_preset",
    "FFN_OUTPUT_NODES",
]

Quantize = Literal["none", "int8", "int8-fixed", "int8-static", "fp16", "auto"]
QUANTIZE_CHOICES: tuple[str, ...] = typing.get_args(Quantize)
"""Values of `ExportConfig.quantize` / `--quantize`."""
CalibrationSource = Literal["random", "teacher-guided", "guessed"]
CALIBRATION_SOURCES: tuple[str, ...] = typing.get_args(CalibrationSource)
"""Data-free calibration sources; see `asdfd.export.calibration`."""
_WEIGHT_TYPES = ("qint8", "quint8")
FFN_OUTPUT_NODES: tuple[str, ...] = (r"layer\.\d+/output/dense/", r"ffn/lin2/")
"""Regexes of each layer's FFN output projection (BERT/RoBERTa `output.dense`, DistilBERT `ffn.lin2`): its input, the
GELU output, is heavy-tailed, so one static per-tensor scale clips it."""
_CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


@dataclass(frozen=True, kw_only=True)
class QuantizationPreset:
    """One int8 recipe for onnxruntime's quantizer (dynamic or static)."""

    name: str
    """Short id recorded in the artifact, e.g. "dynamic-s8-per-channel"."""
    mode: Literal["dynamic", "static"] = "dynamic"
    """dynamic: activations quantized at run time (no calibration); static: scales calibrated offline."""
    per_channel: bool = True
    """One scale per output channel of each weight: clearly better accuracy for transformer MatMuls."""
    weight_type: Literal["qint8", "quint8"] = "qint8"
    """Signed int8 weights are what ORT's x86/ARM int8 GEMM kernels are tuned for (U8S8)."""
    activation_type: Literal["quint8", "qint8"] = "quint8"
    """Static only. U8 activations with S8 weights use the fast VPMADDUBSW path on x86."""
    reduce_range: bool = False
    """7-bit weights: avoids int16 saturation in U8S8 kernels on x86 CPUs without VNNI."""
    quant_format: Literal["qdq", "qoperator"] = "qoperator"
    """Static only: QOperator writes QLinearMatMul directly; QDQ leaves fusion to the session."""
    quantize_embeddings: bool = True
    """Quantize the word-embedding table (Gather / EmbedLayerNormalization): half of MiniLM's weights.
    False keeps embeddings in fp32: a much larger file, sometimes a little more accurate (measured:
    docs/export_results.md, section 'Findings')."""
    quantize_attention: bool = True
    """Quantize the fused Attention's QKV weights (QAttention, dynamic). Static mode has no static
    QAttention, so it adds a dynamic pass for these nodes only (a hybrid graph)."""
    quantize_head: bool = False
    """Quantize the pooler and classifier head too. Off: they are tiny and decide the argmax."""
    dynamic_nodes: tuple[str, ...] = FFN_OUTPUT_NODES
    """Static only: regexes of MatMul node names quantized dynamically instead of with static scales.
    Default: each layer's FFN output projection (BERT/RoBERTa `output.dense`, DistilBERT `ffn.lin2`),
    whose input, the GELU output, is heavy-tailed, so a static per-tensor scale clips it; on the SST-2 MiniLM
    teacher this made argmax agreement with fp32 clearly higher than all-static at the same size (measured:
    docs/export_results.md, section 'Findings'). () makes every MatMul static."""
    calibration_method: Literal["minmax", "percentile", "entropy"] = "minmax"
    """Static only: how activation ranges are computed from the (streamed) calibration batches."""
    float_nodes: tuple[str, ...] = ()
    """Static only: regexes of MatMul node names left in fp32 (neither static nor dynamic int8)."""
    weight_matmuls_only: bool = False
    """Static only: quantize only MatMuls with a weight initializer; those multiplying two activations (the
    attention scores and context of an unfused graph) stay fp32."""

    def __post_init__(self) -> None:
        if self.mode not in ("dynamic", "static"):
            raise ConfigError(f"quantization mode must be dynamic or static, got {self.mode!r}")
        if self.weight_type not in _WEIGHT_TYPES or self.activation_type not in _WEIGHT_TYPES:
            raise ConfigError(f"weight/activation types must be one of {_WEIGHT_TYPES}")
        if self.quant_format not in ("qdq", "qoperator"):
            raise ConfigError(f"quant_format must be qdq or qoperator, got {self.quant_format!r}")
        if self.calibration_method not in _CALIBRATION_METHODS:
            raise ConfigError(
                f"calibration_method must be one of {_CALIBRATION_METHODS}, got {self.calibration_method!r}"
            )

    @property
    def batch_invariant(self) -> bool:
        """Every quantized activation has a fixed (calibrated) scale: a text gets bit-identical outputs alone or in
        any batch. Dynamic quantization (`mode` dynamic, `dynamic_nodes`, the dynamic QAttention pass) computes one
        scale per batch tensor, padding included, so a text's label can depend on the other texts of its batch."""
        return self.mode == "static" and not self.dynamic_nodes and not self.quantize_attention

    @property
    def op_types(self) -> tuple[str, ...]:
        """ONNX op types handed to the (first) quantizer pass."""
        ops = ["MatMul"]
        if self.quantize_attention and self.mode == "dynamic":
            ops.append("Attention")  # -> QAttention
        if self.quantize_embeddings:
            ops += ["EmbedLayerNormalization", "Gather"]  # -> QEmbedLayerNormalization / quantized table
        return tuple(ops)


def dynamic_preset(
    *,
    reduce_range: bool = False,
    weight_type: str = "qint8",
    per_channel: bool = True,
    quantize_embeddings: bool = True,
) -> QuantizationPreset:
    """Dynamic int8 (no calibration): MatMul -> MatMulInteger + DynamicQuantizeLinear."""
    parts = ["dynamic", "s8" if weight_type == "qint8" else "u8", "per-channel" if per_channel else "per-tensor"]
    parts += ["reduce-range"] if reduce_range else []
    parts += [] if quantize_embeddings else ["fp32-embeddings"]
    return QuantizationPreset(
        name="-".join(parts),
        mode="dynamic",
        per_channel=per_channel,
        weight_type=weight_type,
        reduce_range=reduce_range,  # type: ignore[arg-type]
        quantize_embeddings=quantize_embeddings,
    )


def static_preset(
    *,
    reduce_range: bool = False,
    activation_type: str = "quint8",
    quant_format: str = "qoperator",
    calibration_method: str = "minmax",
    quantize_embeddings: bool = True,
    ffn_output_dynamic: bool = True,
) -> QuantizationPreset:
    """Static int8 with calibrated activation scales: MatMul -> QLinearMatMul (or QDQ pairs).

    ffn_output_dynamic=False makes every encoder MatMul static (see `QuantizationPreset.dynamic_nodes`).
    """
    parts = ["static", "u8s8" if activation_type == "quint8" else "s8s8", quant_format, calibration_method]
    parts += ["reduce-range"] if reduce_range else []
    parts += [] if quantize_embeddings else ["fp32-embeddings"]
    parts += [] if ffn_output_dynamic else ["all-static"]
    extra = {} if ffn_output_dynamic else {"dynamic_nodes": ()}
    return QuantizationPreset(
        name="-".join(parts),
        mode="static",
        activation_type=activation_type,  # type: ignore[arg-type]
        reduce_range=reduce_range,
        quant_format=quant_format,  # type: ignore[arg-type]
        calibration_method=calibration_method,  # type: ignore[arg-type]
        quantize_embeddings=quantize_embeddings,
        **extra,
    )


def fixed_preset(
    *,
    reduce_range: bool = False,
    activation_type: str = "quint8",
    quant_format: str = "qoperator",
    calibration_method: str = "minmax",
    quantize_embeddings: bool = True,
    ffn_output_fp32: bool = True,
) -> QuantizationPreset:
    """Batch-invariant int8 (`--quantize int8-fixed`): static int8 with calibrated (fixed) activation scales
    for the MatMuls it quantizes, nothing dynamic. The fused attention stays fp32 (there is no static QAttention),
    and with ffn_output_fp32 so does each layer's FFN output projection (its heavy-tailed input is what a static
    per-tensor scale clips; measured: docs/export_results.md, section 'Batch-invariant int8')."""
    static = static_preset(
        reduce_range=reduce_range,
        activation_type=activation_type,
        quant_format=quant_format,
        calibration_method=calibration_method,
        quantize_embeddings=quantize_embeddings,
        ffn_output_dynamic=False,
    )
    name = static.name.replace("static", "fixed", 1).replace("-all-static", "")
    return dataclasses.replace(
        static,
        name=name + ("-fp32-ffn-output" if ffn_output_fp32 else ""),
        quantize_attention=False,
        dynamic_nodes=(),
        float_nodes=FFN_OUTPUT_NODES if ffn_output_fp32 else (),
        weight_matmuls_only=True,
    )


PRESETS: dict[str, QuantizationPreset] = {
    # x86 with AVX2 but no VNNI: U8S8 kernels can saturate int16 accumulators, so weights use 7 bits.
    "avx2": dynamic_preset(reduce_range=True),
    "avx2-static": static_preset(reduce_range=True),
    "avx2-fixed": fixed_preset(reduce_range=True),
    # VNNI (AVX512-VNNI / AVX-VNNI) accumulates in int32: full 8-bit range.
    "avx512_vnni": dynamic_preset(),
    "avx512_vnni-static": static_preset(),
    "avx512_vnni-fixed": fixed_preset(),
    # ARM64 (dot-product instructions): S8S8 in QDQ format is the fast path.
    "arm64": dynamic_preset(),
    "arm64-static": static_preset(activation_type="qint8", quant_format="qdq"),
    "arm64-fixed": fixed_preset(activation_type="qint8", quant_format="qdq"),
}
"""Named int8 presets, chosen by `asdfd.export.cpu.preset_for_cpu` when `ExportConfig.preset` is None."""


@dataclass(frozen=True, kw_only=True)
class CalibrationConfig:
    """Data-free calibration for `int8-fixed` and `int8-static` (no dataset: inputs are generated)."""

    source: CalibrationSource = "teacher-guided"
    """random: uniform non-special tokens; teacher-guided: random tokens kept where the fp32 model is
    confident, balanced over classes; guessed: the compressor's guessed embeddings decoded to tokens."""
    num_samples: int = 256
    """Calibration sequences (rounded up to whole chunks)."""
    batch_size: int = 16
    """Sequences per calibration batch."""
    seq_length: int = 48
    """Longest generated sequence; each sample gets a random length up to this (capped at max_length)."""
    chunk_batches: int = 4
    """Batches whose activations are held at once; ranges are merged chunk by chunk, so memory stays
    bounded whatever num_samples is."""
    oversample: int = 4
    """teacher-guided: candidates scored per kept sample."""
    seed: int = 0
    """Seeds the generated calibration inputs."""

    def __post_init__(self) -> None:
        if self.source not in CALIBRATION_SOURCES:
            raise ConfigError(
                f"calibration source must be one of {', '.join(CALIBRATION_SOURCES)}, got {self.source!r}"
            )
        for name in ("num_samples", "batch_size", "chunk_batches", "oversample"):
            if getattr(self, name) < 1:
                raise ConfigError(f"calibration.{name} must be >= 1, got {getattr(self, name)}")
        if self.seq_length < 3:
            raise ConfigError(f"calibration.seq_length must be >= 3, got {self.seq_length}")


@dataclass(frozen=True, kw_only=True)
class ValidationConfig:
    """How the exported graph is checked against the PyTorch model (always run)."""

    atol: float = 1e-4
    """fp32 graphs: max |logit difference| allowed against PyTorch."""
    min_agreement: float = 0.9
    """int8/fp16 graphs: minimum argmax agreement with the fp32 PyTorch model on the inputs that decide (real
    texts when `eval_file` is given, else confident generated ones). Random inputs get a floor that loosens
    with the number of classes (`asdfd.export.validate.random_agreement_floor`)."""
    batch_sizes: tuple[int, ...] = (1, 3)
    """Batch sizes of the shape grid."""
    seq_lengths: tuple[int, ...] = (5, 17)
    """Shape grid checked with and without padding (lengths are capped at max_length)."""
    num_samples: int = 64
    """Extra random-length padded samples, for agreement figures with a useful resolution."""
    confident_samples: int = 128
    """Generated inputs on which the fp32 model is decided (class-balanced, most confident first): a quantized
    graph must keep `min_agreement` on these (or on `eval_file`'s texts when given)."""
    confident_oversample: int = 8
    """Random candidates scored per confident input kept."""
    eval_file: str | None = None
    """CSV/TSV of real texts (labels not needed): when given, a quantized graph is judged by its agreement on
    them instead of on confident generated inputs."""
    text_column: str = "sentence"
    """Text column of `eval_file`."""
    max_eval_texts: int = 512
    """Texts of `eval_file` used for validation (the first N)."""
    auto_num_samples: int = 512
    """--quantize auto: generated samples its agreement figures use. A 0.5-point budget needs a few
    hundred samples to resolve (with 80, one disagreement is already 1.25 points)."""
    latency_runs: int = 20
    """Timed runs when a latency decides something (optimization kept?, --quantize auto)."""
    seed: int = 1234
    """Seeds the generated validation inputs."""

    def __post_init__(self) -> None:
        if not self.atol > 0:
            raise ConfigError(f"validation.atol must be > 0, got {self.atol}")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"validation.min_agreement must be in [0, 1], got {self.min_agreement}")
        if not self.batch_sizes or not self.seq_lengths or min(self.batch_sizes + self.seq_lengths) < 1:
            raise ConfigError("validation.batch_sizes and seq_lengths must be non-empty positive integers")
        if self.num_samples < 0 or self.auto_num_samples < 0 or self.latency_runs < 1:
            raise ConfigError("validation.num_samples and auto_num_samples must be >= 0, latency_runs >= 1")
        if self.confident_samples < 0 or self.confident_oversample < 1 or self.max_eval_texts < 1:
            raise ConfigError("validation.confident_samples must be >= 0, confident_oversample and max_eval_texts >= 1")


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Options of `export_onnx` / `compress export`.

    Example:
        >>> ExportConfig(quantize="int8-static", calibration=CalibrationConfig(source="random"))
    """

    quantize: Quantize = "int8"
    """none: fp32; int8: dynamic per-channel (activation scales per batch: the runtime runs such graphs one text at a
    time, so a text's outputs never depend on its batch); int8-fixed: static int8 with fixed scales from data-free
    calibration, FFN outputs and attention fp32 (the graph itself is batch-invariant: batched in the runtime and in
    transformers.js); int8-static: data-free calibrated, FFN outputs and attention dynamic; fp16: for the CUDA provider;
    auto: fastest int8/fp32 variant within `max_agreement_drop`."""
    optimize: bool = True
    """Run onnxruntime's transformer optimizer (Attention/SkipLayerNorm/Gelu fusions), kept only when
    it validates and is not slower."""
    opset: int = 18
    """ONNX opset (optimum's minimum for BERT; the fusions and the quantizer handle 17-18 alike)."""
    max_length: int = 128
    """Tokens per text at run time (the runtime truncates to it); at most the model's positions."""
    input_kind: Literal["auto", "single", "pair"] = "auto"
    """Task shape recorded in the artifact: "pair" (the runtime takes (text_a, text_b)) or "single"; "auto" reads
    config.json's `asdfd_input` (the distiller writes it), else pair-task label names, else single."""
    max_agreement_drop: float = 0.5
    """auto: largest drop (percentage points) of argmax agreement with fp32 a faster variant may cost."""
    exporter: Literal["optimum", "torch"] = "optimum"
    """optimum: optimum-onnx's per-architecture exporter (default); torch: plain torch.onnx (TorchScript)."""
    preset: QuantizationPreset | None = None
    """int8 recipe; None picks one from the CPU's features (see PRESETS and asdfd.export.cpu)."""
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    strict: bool = False
    """Fail when the quantized graph fails validation. False: try the next int8 recipe, then keep fp32, with a
    warning (the artifact's variant says what it holds)."""
    show_progress: bool = True
    """Progress bars on the terminal."""

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE_CHOICES:
            raise ConfigError(f"--quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {self.quantize!r}")
        if not 14 <= self.opset <= 21:
            raise ConfigError(f"--opset must be between 14 and 21, got {self.opset}")
        if self.max_length < 2:
            raise ConfigError(f"--max-length must be >= 2, got {self.max_length}")
        if not 0.0 <= self.max_agreement_drop <= 100.0:
            raise ConfigError(f"--max-agreement-drop must be in [0, 100] points, got {self.max_agreement_drop}")
        if self.exporter not in ("optimum", "torch"):
            raise ConfigError(f"exporter must be optimum or torch, got {self.exporter!r}")
        if self.preset is not None:
            expected = {"int8": "dynamic", "int8-fixed": "static", "int8-static": "static"}.get(self.quantize)
            if expected is not None and self.preset.mode != expected:
                raise ConfigError(
                    f"preset {self.preset.name!r} is {self.preset.mode}, but --quantize {self.quantize} "
                    f"needs a {expected} preset"
                )
            if self.quantize == "int8-fixed" and not self.preset.batch_invariant:
                raise ConfigError(
                    f"preset {self.preset.name!r} has per-batch (dynamic) parts, but --quantize int8-fixed needs a "
                    "batch-invariant preset (fixed_preset)"
                )
