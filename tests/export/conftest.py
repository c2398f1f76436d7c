"""Export fixtures: exports of the tiny models of tests/conftest.py shared by the tests (session-scoped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asdfd.export import ExportConfig, ValidationConfig, export_onnx

FAST = ValidationConfig(num_samples=32, latency_runs=5)
"""Validation settings for tests: enough samples for agreement figures, few timed runs."""


@pytest.fixture(scope="session")
def fast() -> ValidationConfig:
    return FAST


def _export(tmp_path_factory, model_dir: Path, name: str, **config):
    out = tmp_path_factory.mktemp("export") / name
    return export_onnx(model_dir, out, ExportConfig(show_progress=False, validation=FAST, **config))


@pytest.fixture(scope="session")
def fp32_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "fp32.onnx", quantize="none")


@pytest.fixture(scope="session")
def int8_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "int8.onnx", quantize="int8")


@pytest.fixture(scope="session")
def folder_export(tmp_path_factory, tiny_teacher_dir):
    return _export(tmp_path_factory, tiny_teacher_dir, "student/", quantize="int8")
