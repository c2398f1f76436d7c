"""Narrower students: keep the most important feed-forward neurons and attention heads of each layer.

The FFN holds two thirds of a BERT layer's multiply-adds (2·d·4d against 4·d² for attention), so
halving its width saves a third of them, while hidden states keep the teacher's size (the plug, the
embeddings and the hidden-state loss are unchanged). Neurons are ranked without data by
‖w_in_j‖·‖w_out_j‖, the scale at which neuron j can move the residual stream. Before any distillation,
weight norms kept more accuracy than mean |activation| on random-token inputs at moderate widths, hence weight
norms (measured on the SST-2 teacher: docs/distill_results.md, section 'Narrower students (`--student-ffn`) at
the demo budget').

Heads are ranked the same way, by ‖W_V,h‖·‖W_O,h‖ (what head h reads out of the residual stream and how
strongly it writes back), and removed with Hugging Face's own `prune_heads`, which records them in
`config.pruned_heads` so the saved student reloads, and exports, with its smaller attention. A head costs
its share of the Q/K/V and output projections and of the attention itself.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from asdfd.core.architectures import Architecture
from asdfd.core.errors import ConfigError

__all__ = [
    "ffn_neuron_importance",
    "keep_ffn_neurons",
    "narrow_ffn",
    "attention_head_importance",
    "prune_attention_heads",
]


def ffn_neuron_importance(ffn_in: nn.Linear, ffn_out: nn.Linear, glu: bool = False) -> Tensor:
    """Importance of each FFN neuron, shape (neurons,): norm of its input row times norm of its output column (a
    gated FFN: times the norm of its gate row too)."""
    rows = ffn_in.weight.detach().norm(dim=1)
    if glu:
        inputs, gates = rows.chunk(2)
        rows = inputs * gates
    return rows * ffn_out.weight.detach().norm(dim=0)


def _linear_like(source: nn.Linear, in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(
        in_features, out_features, bias=source.bias is not None, device=source.weight.device, dtype=source.weight.dtype
    )


@torch.no_grad()
def keep_ffn_neurons(
    ffn_in: nn.Linear, ffn_out: nn.Linear, keep: Tensor, glu: bool = False
) -> tuple[nn.Linear, nn.Linear]:
    """New (ffn_in, ffn_out) computing the FFN restricted to neurons `keep` (1-D indices, any order); a gated FFN
    keeps each neuron's gate row too (rows `width + keep`)."""
    keep = keep.sort().values.to(ffn_in.weight.device)
    rows = torch.cat([keep, keep + ffn_out.in_features]) if glu else keep
    new_in = _linear_like(ffn_in, ffn_in.in_features, len(rows))
    new_in.weight.copy_(ffn_in.weight[rows])
    if ffn_in.bias is not None:
        new_in.bias.copy_(ffn_in.bias[rows])
    new_out = _linear_like(ffn_out, len(keep), ffn_out.out_features)
    new_out.weight.copy_(ffn_out.weight[:, keep])
    if ffn_out.bias is not None:
        new_out.bias.copy_(ffn_out.bias)
    return new_in, new_out


def _fewer(total: int) -> str:
    """ "1 to N-1", the counts a narrower student may keep ("1" when that is the only one)."""
    return "1" if total == 2 else f"1 to {total - 1}"


def narrow_ffn(model: nn.Module, arch: Architecture, size: int) -> None:
    """Keep the `size` most important FFN neurons in every layer of `model` and record the width in its config.

    Raises:
        ConfigError: `size` is not smaller than the current width.
    """
    width = int(getattr(model.config, arch.ffn_size_key))
    if not 1 <= size < width:
        if width <= 1:
            raise ConfigError(
                f"the teacher's FFN has {width} neuron per layer: nothing to prune; leave --student-ffn unset"
            )
        raise ConfigError(
            f"--student-ffn {size}: the teacher's FFN has {width} neurons per layer, so keep {_fewer(width)} of "
            "them, or all (--student-ffn all)"
        )
    for layer in arch.layers(model):
        ffn_in, ffn_out = arch.ffn(layer)
        keep = ffn_neuron_importance(ffn_in, ffn_out, arch.ffn_glu).topk(size).indices
        arch.set_ffn(layer, *keep_ffn_neurons(ffn_in, ffn_out, keep, arch.ffn_glu))
    setattr(model.config, arch.ffn_size_key, size)


def attention_head_importance(value: nn.Linear, output: nn.Linear, num_heads: int) -> Tensor:
    """Importance of each head, shape (num_heads,): norm of its value rows times norm of its output columns."""
    head_size = value.out_features // num_heads
    reads = value.weight.detach().reshape(num_heads, head_size * value.in_features)
    writes = output.weight.detach().reshape(output.out_features, num_heads, head_size).transpose(0, 1)
    return reads.norm(dim=1) * writes.reshape(num_heads, -1).norm(dim=1)


def prune_attention_heads(model: nn.Module, arch: Architecture, keep: int) -> None:
    """Keep the `keep` most important attention heads in every layer of `model` (Hugging Face `prune_heads`).

    Raises:
        ConfigError: `keep` is not smaller than the heads per layer.
    """
    if getattr(model.config, "pruned_heads", None):
        raise ConfigError(
            "the teacher already has pruned attention heads: --student-heads needs a teacher with all "
            "of its heads; leave it unset"
        )
    heads = int(getattr(model.config, arch.num_heads_key))
    if not 1 <= keep < heads:
        if heads == 1:
            raise ConfigError(
                "the teacher has one attention head per layer: nothing to prune; leave --student-heads "
                "unset (or pass all)"
            )
        raise ConfigError(
            f"--student-heads {keep}: the teacher has {heads} attention heads per layer, so keep {_fewer(heads)} "
            "of them, or all (--student-heads all)"
        )
    drop = {}
    for index, layer in enumerate(arch.layers(model)):
        value, output = arch.attention_projections(layer)
        ranked = attention_head_importance(value, output, heads).argsort()
        drop[index] = sorted(ranked[: heads - keep].tolist())
    model.prune_heads(drop)
