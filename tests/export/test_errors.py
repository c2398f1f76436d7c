"""Bad input gets a one-line error; a failed validation exits non-zero and leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from asdfd.cli import main
from asdfd.core.errors import ConfigError, ModelLoadError, OutputExistsError, ValidationError
from asdfd.export import ExportConfig, ValidationConfig, export_onnx


def invoke(*args: str):
    return CliRunner().invoke(main, ["-q", "export", *args])


def one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_missing_folder(tmp_path):
    assert "does not exist" in one_line_error(invoke(str(tmp_path / "nope"), "--out", str(tmp_path / "a.onnx")))


def test_not_a_sequence_classifier(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_teacher_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (folder / "config.json").write_text(json.dumps(config))
    assert "not a sequence classifier" in one_line_error(invoke(str(folder), "--out", str(tmp_path / "a.onnx")))


def test_unsupported_architecture(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "gpt"
    shutil.copytree(tiny_teacher_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gpt2"
    (folder / "config.json").write_text(json.dumps(config))
    assert "unsupported architecture" in one_line_error(invoke(str(folder), "--out", str(tmp_path / "a.onnx")))


def test_unsupported_option_is_a_usage_error(tiny_teacher_dir, tmp_path):
    result = invoke(str(tiny_teacher_dir), "--out", str(tmp_path / "a.onnx"), "--quantize", "int4")
    assert result.exit_code == 2 and "int4" in result.output
    with pytest.raises(ConfigError, match="--quantize"):
        ExportConfig(quantize="int4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibration source"):
        from asdfd.export import CalibrationConfig

        CalibrationConfig(source="dataset")  # type: ignore[arg-type]


def test_out_in_missing_folder_creates_it_and_a_file_in_the_way_is_one_line(tiny_teacher_dir, tmp_path):
    """Missing parent folders are created, as `mkdir -p` would (asdfd.core._io.check_output_path)."""
    result = invoke(str(tiny_teacher_dir), "--out", str(tmp_path / "no" / "a.onnx"))
    assert result.exit_code == 0 and (tmp_path / "no" / "a.onnx").is_file(), result.output
    (tmp_path / "file").write_text("x")
    assert "is a file, not a folder" in one_line_error(
        invoke(str(tiny_teacher_dir), "--out", str(tmp_path / "file" / "a.onnx"))
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_out_in_read_only_folder(tiny_teacher_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert "not writable" in one_line_error(invoke(str(tiny_teacher_dir), "--out", str(locked / "a.onnx")))
    finally:
        locked.chmod(0o755)


def test_read_only_folder_via_api(tiny_teacher_dir, tmp_path, monkeypatch):
    """Same check without relying on permissions (the tests may run as root)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if mode & os.W_OK else real_access(path, mode))
    with pytest.raises(ConfigError, match="not writable"):
        export_onnx(tiny_teacher_dir, tmp_path / "a.onnx")


def test_existing_output_needs_force(tiny_teacher_dir, tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"old")
    assert "--force" in one_line_error(invoke(str(tiny_teacher_dir), "--out", str(tmp_path / "a.onnx")))
    with pytest.raises(OutputExistsError):
        export_onnx(tiny_teacher_dir, tmp_path / "a.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == b"old"


def test_missing_weights(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "noweights"
    shutil.copytree(tiny_teacher_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        export_onnx(folder, tmp_path / "a.onnx")


def _sabotaged_quantizer(real):
    """A quantizer that flips the classifier's sign: every argmax changes, so validation must fail."""

    def quantize(source, target, preset, **kwargs):
        real(source, target, preset, **kwargs)
        model = onnx.load(str(target))
        for init in model.graph.initializer:
            if "classifier" in init.name and "weight" in init.name:
                init.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), init.name))
        onnx.save(model, str(target))

    return quantize


def test_failed_validation_strict_leaves_nothing_and_reports_figures(tiny_teacher_dir, tmp_path, monkeypatch, fast):
    import asdfd.export.quantize as quantize

    monkeypatch.setattr(quantize, "quantize_dynamic_int8", _sabotaged_quantizer(quantize.quantize_dynamic_int8))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # Small and quick: the torch exporter, a few validation inputs (every argmax flips anyway).
    config = ExportConfig(
        exporter="torch",
        show_progress=False,
        strict=True,
        validation=ValidationConfig(
            batch_sizes=(4,), seq_lengths=(9,), num_samples=8, confident_samples=16, latency_runs=2
        ),
    )
    with pytest.raises(ValidationError, match=r"agreement \d+\.\d+%") as err:
        export_onnx(tiny_teacher_dir, out_dir / "student.onnx", config)
    assert "nothing written" in str(err.value)
    assert list(out_dir.iterdir()) == []  # no file, no temp sibling
    with pytest.raises(ValidationError):
        export_onnx(tiny_teacher_dir, out_dir / "student/", config)
    assert list(out_dir.iterdir()) == []

    result = invoke(str(tiny_teacher_dir), "--out", str(out_dir / "student.onnx"), "--strict")
    assert result.exit_code == 1 and "FAILED" in result.output and "agreement" in result.output
    assert list(out_dir.iterdir()) == []


def test_failed_int8_falls_back_to_next_recipe_then_fp32(tiny_teacher_dir, tmp_path, monkeypatch, fast, caplog):
    import asdfd.export.quantize as quantize

    monkeypatch.setattr(quantize, "quantize_dynamic_int8", _sabotaged_quantizer(quantize.quantize_dynamic_int8))
    config = ExportConfig(exporter="torch", show_progress=False, validation=fast)
    result = export_onnx(tiny_teacher_dir, tmp_path / "student.onnx", config)
    assert result.variant == "fp32" and len(result.fallbacks) == 2  # the CPU's recipe, then fp32 embeddings
    assert all("FAILED" in verdict for verdict in result.fallbacks)
    assert "no int8 recipe validated" in caplog.text
    assert result.validation["final"]["max_abs_diff"] <= 1e-4
    from asdfd.runtime import Classifier

    assert Classifier.load(tmp_path / "student.onnx").info.provenance["variant"] == "fp32"  # says what it holds


def test_cli_writes_folder_layout_for_trailing_slash(tiny_teacher_dir, tmp_path):
    result = invoke(str(tiny_teacher_dir), "--out", f"{tmp_path}/student/", "--quantize", "none", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["folder"] == str(tmp_path / "student") and (tmp_path / "student" / "model.onnx").is_file()
    assert data["validation"]["final"]["max_abs_diff"] <= 1e-4
    assert np.isfinite(data["size_mb"])
