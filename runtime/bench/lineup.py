"""The models a benchmark compares: the teacher (PyTorch), its ONNX baselines (cached), the students.

The baselines are built through `asdfd.export`, imported only when one must be built, so a student-only
benchmark (or one whose baselines are cached) runs on the runtime install.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from asdfd import __version__
from asdfd.core.errors import AsdfdError, ConfigError, DataError
from asdfd.runtime.bench.bench_config import QUANTIZE_NAMES, BenchConfig
from asdfd.runtime.bench.models import BenchModel, OnnxModel, PyTorchModel

__all__ = ["load_models", "require_comparable", "student_names", "baseline_fingerprint"]

logger = logging.getLogger(__name__)


def baseline_fingerprint(teacher: Path, max_length: int, input_kind: str = "auto") -> str:
    """Changes when the teacher's weights, the task shape or the exporter's version change, so cached baselines are
    rebuilt."""
    digest = hashlib.sha256(f"{max_length}:{__version__}{'' if input_kind == 'auto' else ':' + input_kind}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        path = teacher / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:10]


def student_names(paths: tuple[Path, ...]) -> list[str]:
    """Report names of the students: file stems, with their folder when two stems clash."""
    names = [Path(p).stem if Path(p).suffix == ".onnx" else Path(p).name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{Path(p).parent.name}/{name}" for p, name in zip(paths, names)]
    return [name if name.startswith("student") else f"student {name}" for name in names]


def _export_teacher_baseline(teacher: Path, out: Path, *, quantize: str, max_length: int, input_kind: str) -> None:
    """The teacher as a user would deploy it without us: exported (and quantized) by `asdfd.export`."""
    try:  # lazy: the exporter needs the compress extra (torch), which a runtime-only benchmark lacks
        from asdfd.export import ExportConfig, export_onnx
    except ImportError as err:
        raise ConfigError(
            f"teacher ONNX baselines need the exporter ({err}): install asdfd[compress], "
            "or pass --teacher-onnx '' to skip them"
        ) from None
    # strict: a baseline that falls back to fp32 would be reported under the wrong name.
    config = ExportConfig(quantize=quantize, max_length=max_length, input_kind=input_kind, strict=True)
    export_onnx(teacher, out, config, force=True)


def _teacher_baseline(config: BenchConfig, quantize: str, cache_dir: Path, notes: list[str]) -> Path | None:
    """The cached (or newly built) ONNX baseline; None, with a note, when it cannot be built."""
    name = QUANTIZE_NAMES[quantize]
    fingerprint = baseline_fingerprint(config.teacher, config.max_length, config.input_kind)
    path = cache_dir / f"teacher-{name}-{fingerprint}.onnx"
    if path.is_file():
        return path
    logger.info("exporting the teacher baseline (%s) to %s", name, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _export_teacher_baseline(
            config.teacher, path, quantize=quantize, max_length=config.max_length, input_kind=config.input_kind
        )
    except AsdfdError as err:
        note = f"The teacher ONNX {name} baseline could not be built, so it is not compared: {err}"
        logger.warning("%s", note)
        notes.append(note)
        return None
    return path


def load_models(config: BenchConfig, threads: int, cache_dir: Path, notes: list[str]) -> list[BenchModel]:
    """The teacher, its ONNX baselines and the students; a baseline that cannot be built is a note, not an error.

    The first model is the quality reference (role "teacher"): the PyTorch teacher, else the first baseline.
    """
    models: list[BenchModel] = []
    if config.teacher_pytorch:
        models.append(
            PyTorchModel(
                "teacher PyTorch fp32",
                config.teacher,
                threads=threads,
                max_length=config.max_length,
                input_kind=config.input_kind,
            )
        )
    for quantize in config.teacher_onnx:
        path = _teacher_baseline(config, quantize, cache_dir, notes)
        if path is not None:
            role = "teacher" if not models else "baseline"
            models.append(OnnxModel(f"teacher ONNX {QUANTIZE_NAMES[quantize]}", path, role=role, threads=threads))
    for name, path in zip(student_names(config.students), config.students):
        models.append(OnnxModel(name, Path(path), role="student", threads=threads))
    return models


def require_comparable(models: list[BenchModel]) -> BenchModel:
    """The reference (first model), after checking every other model has its labels, head and task shape.

    Raises:
        ConfigError: no teacher reference could be built.
        DataError: a model answers another task than the teacher.
    """
    if not models or models[0].role != "teacher":
        raise ConfigError(
            "no teacher reference could be built (see the notes above): keep teacher_pytorch, "
            "or give a teacher_onnx that exports"
        )
    reference = models[0]
    for model in models[1:]:
        if model.labels != reference.labels:
            raise DataError(
                f"{model.name} has labels {list(model.labels)} but the teacher has "
                f"{list(reference.labels)}: they must match to compare predictions"
            )
        if model.head != reference.head:
            raise DataError(
                f"{model.name} is a {model.head} model but the teacher a {reference.head} one: "
                "compare a student with its own teacher"
            )
        if model.pairs != reference.pairs:
            kinds = {True: "sentence pairs", False: "single texts"}
            raise DataError(
                f"{model.name} classifies {kinds[model.pairs]} but the teacher {kinds[reference.pairs]}: "
                "compare a student with its own teacher"
            )
    return reference
