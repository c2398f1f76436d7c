"""Device and precision are resolved once; the CUDA autocast path is exercised on CPU through the same builder."""

from __future__ import annotations

import pytest
import torch

from asdfd.compressor.devices import autocast_context, resolve_device, resolve_precision, setup_placement
from asdfd.core.errors import ConfigError


def test_precision_resolution_and_autocast():
    from asdfd.core.hardware import detect_cpu_features, features_from_flags

    cpu = torch.device("cpu")
    avx2 = features_from_flags({"avx2", "fma"}, machine="x86_64", model="AMD", source="test")
    amx = features_from_flags(
        {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, machine="x86_64", model="Xeon", source="test"
    )
    assert resolve_precision("auto", cpu, avx2) == "fp32"  # emulated bf16 is slower
    assert resolve_precision("auto", cpu, amx) == "bf16"  # chosen from the CPU's features, not the machine
    assert resolve_precision("fp32", cpu, amx) == "fp32"
    assert resolve_precision("auto", torch.device("cuda", 0)) == "bf16"
    here = "bf16" if detect_cpu_features().has_bf16_matmul else "fp32"
    with autocast_context(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_context(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    placement = setup_placement("cpu", "auto", None)
    assert placement.device == cpu and placement.precision == here and placement.is_main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_cpu_threads_honours_a_request_and_never_exceeds_the_default():
    from asdfd.compressor.devices import cpu_threads

    assert cpu_threads(3) == 3
    assert 1 <= cpu_threads(None) <= torch.get_num_threads()


def test_cpu_threads_leaves_the_cores_other_processes_use(monkeypatch):
    from asdfd.compressor.devices import cpu_threads
    from asdfd.core.hardware import OtherProcessesMeter

    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    monkeypatch.setattr("asdfd.compressor.devices.usable_cores", lambda: 4)
    monkeypatch.setattr(OtherProcessesMeter, "busy_cores", lambda self: 2.0)  # 2 of 4 cores busy elsewhere
    assert cpu_threads(None) == 2
    monkeypatch.setattr(OtherProcessesMeter, "busy_cores", lambda self: 4.0)
    assert cpu_threads(None) == 1
    monkeypatch.setattr(OtherProcessesMeter, "busy_cores", lambda self: 0.0)
    assert cpu_threads(None) == 4


def test_training_attention_is_the_math_kernel_on_cpu_and_the_same_result():
    """On CPU the student trains under the math attention kernel (its backward is fast where the fused CPU kernel's
    is slow in bf16); it computes the same gradients. On CUDA torch keeps its own choice."""
    import contextlib

    from asdfd.compressor.devices import Placement

    assert isinstance(Placement(torch.device("cuda", 0), "bf16").training_attention(), contextlib.nullcontext)
    placement = Placement(torch.device("cpu"), "fp32")
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 5, 8, generator=generator, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 1, 5, 5, dtype=torch.bool)
    mask[1, ..., 3:] = False

    def gradients() -> list[torch.Tensor]:
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return list(torch.autograd.grad(out.square().sum(), (q, k, v)))

    fused = gradients()
    with placement.training_attention():
        math_kernel = gradients()
        # the flags every device's kernel choice reads (CPU included): only the math kernel is allowed
        assert torch.backends.cuda.math_sdp_enabled() and not torch.backends.cuda.flash_sdp_enabled()
    assert torch.backends.cuda.flash_sdp_enabled()  # restored on exit
    for a, b in zip(fused, math_kernel):
        torch.testing.assert_close(a, b)
