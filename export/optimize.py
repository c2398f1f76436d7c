"""onnxruntime's transformer optimizer (fusions) and the fusion audit recorded in the artifact.

`optimize_model(..., model_type="bert", opt_level=0)` applies only the Python pattern fusions
(EmbedLayerNormalization, Attention, (Bias)Gelu, and SkipLayerNormalization for CUDA) and no
hardware-specific session optimizations, so the file stays portable across CPUs. DistilBERT and RoBERTa
use the same BERT fusions. Unfused attention is a silent latency loss, hence the audit and its warning.

Residual Add + LayerNormalization is *not* fused into SkipLayerNormalization for CPU graphs: onnxruntime's
CPU kernel for it is a scalar loop with a division per element, much slower than the standard
LayerNormalization kernel after the Adds, and a large share of an int8 MiniLM's run time (measured:
docs/export_results.md, section 'Update 2026-12-01: residual LayerNorm is no longer fused into
SkipLayerNormalization on CPU'). The runtime's sessions keep onnxruntime from re-fusing it
(`asdfd.runtime.classifier.CPU_DISABLED_OPTIMIZERS`).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import onnx
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.optimizer import optimize_model

__all__ = ["FusionAudit", "audit_fusions", "optimize_graph"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionAudit:
    """Counts of fused nodes in a graph, against the number of encoder layers."""

    num_layers: int
    attention: int
    skip_layer_norm: int
    gelu: int
    embed_layer_norm: int
    layer_norm: int
    """Plain LayerNormalization (after the residual Adds in CPU graphs)."""

    @property
    def attention_fused(self) -> bool:
        return self.num_layers > 0 and self.attention >= self.num_layers

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "attention_fused": self.attention_fused}

    def summary(self) -> str:
        return (
            f"Attention {self.attention}/{self.num_layers}, SkipLayerNorm {self.skip_layer_norm}, "
            f"Gelu {self.gelu}, EmbedLayerNorm {self.embed_layer_norm}, LayerNorm {self.layer_norm}"
        )


_ATTENTION_OPS = ("Attention", "MultiHeadAttention", "QAttention")
_GELU_OPS = ("Gelu", "BiasGelu", "FastGelu", "GemmFastGelu")


def audit_fusions(model_path: Path, num_layers: int) -> FusionAudit:
    """Count fused nodes in the .onnx file (quantized variants counted with their float ops)."""
    counts = Counter(node.op_type for node in onnx.load(str(model_path), load_external_data=False).graph.node)
    return FusionAudit(
        num_layers=num_layers,
        attention=sum(counts[op] for op in _ATTENTION_OPS),
        skip_layer_norm=counts["SkipLayerNormalization"],
        gelu=sum(counts[op] for op in _GELU_OPS),
        embed_layer_norm=counts["EmbedLayerNormalization"] + counts["QEmbedLayerNormalization"],
        layer_norm=counts["LayerNormalization"],
    )


def _pruned_heads_notice(record: logging.LogRecord) -> bool:
    """False for the fusion's "Input hidden size ... is not same as ..." warning: with pruned heads the attention
    is narrower than the hidden size by design, and the fused graph is validated anyway."""
    return not record.getMessage().startswith("Input hidden size")


def optimize_graph(
    source: Path, target: Path, *, num_heads: int, hidden_size: int, num_layers: int, device: str = "cpu"
) -> FusionAudit:
    """Fuse `source` into `target` for `device` ("cpu" or "cuda") and return the audit.

    The caller warns when attention is unfused.
    """
    options = FusionOptions("bert")
    if device == "cpu":
        options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False

    # The optimizer logs every fusion pass at INFO through top-level loggers ("fusion_base", ...).
    root = logging.getLogger()
    previous = root.level
    root.setLevel(max(previous, logging.WARNING))
    attention_logger = logging.getLogger("fusion_attention")
    attention_logger.addFilter(_pruned_heads_notice)
    try:
        model = optimize_model(
            str(source),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            opt_level=0,
            use_gpu=False,
            optimization_options=options,
        )
        model.save_model_to_file(str(target))
    finally:
        root.setLevel(previous)
        attention_logger.removeFilter(_pruned_heads_notice)
    audit = audit_fusions(target, num_layers)
    logger.info("fusions: %s", audit.summary())
    return audit
