"""Runtime fixtures: the tiny teachers of tests/conftest.py exported to ONNX artifacts (session-scoped)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import build_tiny_teacher


def export_artifact(model_dir: Path, out: Path, *, quantize: str = "none", max_length: int = 64) -> Path:
    """Export with `compress export`'s Python API (validated against PyTorch by the exporter itself)."""
    from asdfd.export import ExportConfig, export_onnx

    export_onnx(model_dir, out, ExportConfig(quantize=quantize, max_length=max_length), force=True)
    return out


@pytest.fixture(scope="session")
def tiny_teacher_onnx(tiny_teacher_dir, tmp_path_factory) -> Path:
    """The tiny teacher as one self-contained fp32 .onnx with the asdfd metadata."""
    return export_artifact(tiny_teacher_dir, tmp_path_factory.mktemp("onnx") / "teacher.onnx")


@pytest.fixture(scope="session")
def tiny_student_dir(tmp_path_factory) -> Path:
    """A 1-layer 'student' with the teacher's tokenizer and labels (random weights, seed 1)."""
    return build_tiny_teacher(tmp_path_factory.mktemp("tiny-student"), seed=1, num_hidden_layers=1)


@pytest.fixture(scope="session")
def tiny_student_onnx(tiny_student_dir, tmp_path_factory) -> Path:
    return export_artifact(tiny_student_dir, tmp_path_factory.mktemp("onnx-student") / "student.onnx", quantize="int8")


@pytest.fixture(scope="session")
def tiny_folder_artifact(tiny_teacher_dir, tiny_teacher_onnx, tmp_path_factory) -> Path:
    """Folder layout: model.onnx WITHOUT metadata + config.json + tokenizer files beside it."""
    import onnx

    folder = tmp_path_factory.mktemp("folder-artifact")
    model = onnx.load(str(tiny_teacher_onnx))
    del model.metadata_props[:]
    onnx.save(model, str(folder / "model.onnx"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_teacher_dir / name, folder / name)
    return folder


@pytest.fixture
def set_metadata():
    """The exporter's `embed_metadata` (set/replace metadata_props in place), to build broken artifacts."""
    from asdfd.export.package import embed_metadata

    return embed_metadata
