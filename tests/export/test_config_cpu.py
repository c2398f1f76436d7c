"""Config validation, presets, and the CPU features that choose them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from asdfd.core.errors import ConfigError
from asdfd.export import PRESETS, CpuFeatures, ExportConfig, ValidationConfig, detect_cpu_features, preset_for_cpu
from asdfd.export.quantize import auto_candidates


def features(**flags) -> CpuFeatures:
    base = dict(
        machine="x86_64",
        model="test",
        avx2=True,
        avx512f=False,
        avx512_vnni=False,
        avx_vnni=False,
        amx=False,
        avx512_bf16=False,
        amx_bf16=False,
        arm_dotprod=False,
        arm_bf16=False,
        source="test",
    )
    return CpuFeatures(**{**base, **flags})


def test_defaults_match_the_contract():
    config = ExportConfig()
    assert (config.quantize, config.optimize, config.max_length, config.max_agreement_drop) == ("int8", True, 128, 0.5)
    assert json.dumps(dataclasses.asdict(config))  # saved beside / inside the artifact


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(opset=9), "opset"),
        (dict(max_length=1), "max-length"),
        (dict(max_agreement_drop=-1), "agreement"),
        (dict(exporter="tf"), "exporter"),
    ],
)
def test_bad_values_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ExportConfig(**kwargs)


def test_bad_validation_values():
    with pytest.raises(ConfigError):
        ValidationConfig(atol=0)
    with pytest.raises(ConfigError):
        ValidationConfig(min_agreement=1.5)


def test_presets_follow_cpu_features():
    assert preset_for_cpu("dynamic", features()).reduce_range  # AVX2 without VNNI: 7-bit weights
    assert not preset_for_cpu("dynamic", features(avx512f=True, avx512_vnni=True)).reduce_range
    arm = preset_for_cpu("static", features(machine="aarch64", avx2=False, arm_dotprod=True))
    assert arm.quant_format == "qdq" and arm.activation_type == "qint8"
    assert all(p.weight_type == "qint8" and p.per_channel for p in PRESETS.values())


def test_auto_candidates_try_reduce_range_only_without_vnni():
    without = {p.name for p in auto_candidates(features())}
    with_vnni = {p.name for p in auto_candidates(features(avx512_vnni=True))}
    assert any("reduce-range" in name for name in without)
    assert not any("reduce-range" in name for name in with_vnni)
    assert any(name.startswith("static") for name in with_vnni) and "dynamic-u8-per-channel" in with_vnni


def test_detect_cpu_features_reads_this_machine():
    found = detect_cpu_features()
    assert found.machine and found.preset_family in ("avx2", "avx512_vnni", "arm64")


def test_features_from_flags_choose_kernels_by_cpu_not_by_machine():
    from asdfd.core.hardware import features_from_flags

    amd = features_from_flags({"avx2", "fma"}, machine="x86_64", model="AMD", source="test")
    xeon = features_from_flags(
        {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8"},
        machine="x86_64",
        model="Xeon",
        source="test",
    )
    assert (amd.preset_family, amd.has_bf16_matmul) == ("avx2", False)
    assert (xeon.preset_family, xeon.has_bf16_matmul) == ("avx512_vnni", True)
