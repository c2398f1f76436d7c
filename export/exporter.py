"""`export_onnx`: Hugging Face sequence classifier folder -> validated, self-contained ONNX artifact.

Steps, each a function that takes values and returns a frozen result (all intermediates in a scratch folder; the
output appears only, atomically, at the end): load the source -> export fp32 (`ExportedGraph`) -> validate vs
PyTorch (`ValidatedGraph`) -> fuse, kept if it validates and is not slower (`OptimizedGraph`) -> quantize (int8
dynamic / int8 fixed or static with data-free calibration / fp16 / auto) and validate (`QuantizedGraph`) -> embed
metadata -> rename into place. A failed validation raises `ValidationError` with the figures, writing nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from asdfd.core._io import atomic_dir, atomic_file, check_output_path, scratch_dir
from asdfd.core.errors import ConfigError, ValidationError
from asdfd.core.heads import head_of
from asdfd.core.hub import resolve_model_dir
from asdfd.core.model_folder import max_positions, read_classifier_config
from asdfd.export.auto import choose_auto
from asdfd.export.checker import GraphChecker, ValidatedGraph, auto_validation, make_checker
from asdfd.export.export_config import ExportConfig
from asdfd.export.fused import OptimizedGraph, audit_final_graph, optimize_fp32
from asdfd.export.int8 import Int8Builder
from asdfd.export.onnx import ExportedGraph, export_fp32_graph
from asdfd.export.optimize import FusionAudit
from asdfd.export.package import build_metadata, embed_metadata, tokenizer_json_text, write_folder_layout
from asdfd.export.provenance import export_provenance
from asdfd.export.result import ExportResult
from asdfd.export.source import SourceModel, load_source
from asdfd.export.variants import QuantizedGraph, convert_to_fp16, keep_fp32, quantize_int8, size_mb
from asdfd.export.web_layout import add_web_layout

__all__ = ["ExportResult", "export_onnx"]

logger = logging.getLogger(__name__)


def export_onnx(
    model_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: ExportConfig = ExportConfig(),
    *,
    force: bool = False,
    calibration_samples: tuple[Any, Any] | None = None,
) -> ExportResult:
    """Export a Hugging Face sequence classifier folder to a validated, self-contained ONNX artifact.

    Args:
        model_dir: folder with config.json, weights and a fast tokenizer (a family of asdfd.core.architectures).
        out: "x.onnx" -> one self-contained file; anything else (or a trailing "/") -> a folder with
            model.onnx, config.json and tokenizer files, loadable by Optimum and the runtime.
        config: what to do (quantization, optimization, validation); see `ExportConfig`.
        force: overwrite an existing `out`.
        calibration_samples: (input_ids, attention_mask) int arrays for `--calibration guessed`, e.g. from
            `asdfd.compressor.decode_pseudo_samples(model_dir, n)` (the exporter does not import the compressor).

    Returns:
        ExportResult with the written path and the validation figures.

    Raises:
        ModelLoadError / ConfigError / OutputExistsError: bad input (one-line messages).
        ValidationError: the graph disagrees with PyTorch beyond tolerance; nothing is written.

    Example:
        >>> result = export_onnx("student/", "student.onnx", ExportConfig(quantize="int8"))
        >>> result.validation["final"]["agreement"]
        0.99
    """
    started = time.perf_counter()
    model_dir = resolve_model_dir(model_dir)  # a Hub id: its cached snapshot
    folder_mode = _check_target(model_dir, out, config, force=force)
    out = Path(out)
    with scratch_dir("export") as scratch:
        source = load_source(model_dir, config)
        graph = export_fp32_graph(model_dir, source.model, scratch, opset=config.opset, exporter=config.exporter)
        checker = make_checker(source, graph.input_names, config.validation)
        fp32 = checker.require_fp32(graph.path)
        device = "cuda" if config.quantize == "fp16" else "cpu"  # fuse for the provider the graph will run on
        optimized = optimize_fp32(
            fp32, checker, scratch, enabled=config.optimize, num_layers=source.num_layers, device=device
        )
        quantized = _quantize(source, config, optimized.graph, checker, scratch, calibration_samples)
        final = quantized.final
        if not final.report.passed:
            verdict = final.report.verdict()
            raise ValidationError(f"exported {final.variant} graph failed validation, nothing written: {verdict}")
        audit = audit_final_graph(final.path, source.num_layers, optimize_requested=config.optimize)
        provenance = export_provenance(source, config, graph, optimized, quantized, audit)
        embed_metadata(final.path, _metadata(source, graph.input_names, final.variant, provenance))
        if folder_mode and quantized.fp32.path != final.path:  # onnx/model.onnx loads in the runtime too
            embed_metadata(quantized.fp32.path, _metadata(source, graph.input_names, "fp32", provenance))
        result = _result(out, folder_mode, graph, optimized, quantized, audit, provenance["cpu"], started)
        _write_artifact(out, result, quantized, source, config)
    result = dataclasses.replace(result, elapsed_s=time.perf_counter() - started)
    logger.info("%s", result.summary())
    return result


def _is_folder_target(out: str | os.PathLike[str]) -> bool:
    text = os.fspath(out)
    return text.endswith(("/", os.sep)) or Path(text).suffix.lower() != ".onnx"


def _check_target(model_dir: Path, out: str | os.PathLike[str], config: ExportConfig, *, force: bool) -> bool:
    """One-line errors for a bad source or target before anything is loaded; True for the folder layout."""
    folder_mode = _is_folder_target(out)
    read_classifier_config(model_dir)
    validation_file = config.validation.eval_file
    inputs = (model_dir, *([Path(validation_file)] if validation_file else []))
    check_output_path(Path(out), force=force, inputs=inputs)
    if not folder_mode and Path(out).is_dir():
        raise ConfigError(f"{out} is a folder: give a path ending in .onnx, or a folder path for the folder layout")
    return folder_mode


def _result(
    out: Path,
    folder_mode: bool,
    graph: ExportedGraph,
    optimized: OptimizedGraph,
    quantized: QuantizedGraph,
    audit: FusionAudit,
    cpu: dict[str, Any],
    started: float,
) -> ExportResult:
    final = quantized.final
    return ExportResult(
        path=out / "model.onnx" if folder_mode else out,
        folder=out if folder_mode else None,
        variant=final.variant,
        exporter=graph.exporter,
        input_names=graph.input_names,
        size_mb=size_mb(final.path),
        fp32_size_mb=size_mb(quantized.fp32.path),
        validation=quantized.validation(),
        fusions=audit.to_dict(),
        optimization=optimized.record,
        candidates=list(quantized.candidates),
        fallbacks=list(quantized.fallbacks),
        cpu=cpu,
        validation_provider=quantized.provider,
        validation_set=quantized.validation_set,
        elapsed_s=time.perf_counter() - started,
    )


def _quantize(
    source: SourceModel,
    config: ExportConfig,
    fp32: ValidatedGraph,
    checker: GraphChecker,
    scratch: Path,
    calibration_samples: tuple[Any, Any] | None,
) -> QuantizedGraph:
    """The variant `config.quantize` asks for, judged on `checker`'s set, except auto (see below)."""
    if config.quantize == "none":
        return keep_fp32(fp32, checker)
    if config.quantize == "fp16":
        return convert_to_fp16(fp32, checker, scratch)
    int8 = Int8Builder(
        fp32_path=fp32.path,
        scratch=scratch,
        space=source.space,
        input_names=checker.input_names,
        max_length=source.max_length,
        calibration=config.calibration,
        calibration_samples=calibration_samples,
        show_progress=config.show_progress,
    )
    if config.quantize != "auto":
        mode = {"int8": "dynamic", "int8-fixed": "fixed", "int8-static": "static"}[config.quantize]
        return quantize_int8(fp32, checker, int8, mode=mode, preset=config.preset, strict=config.strict)
    # auto compares agreement drops against a budget of a fraction of a point: it decides on a larger set of its
    # own, on which fp32 is judged again; the result's validation_set says so.
    auto_checker = make_checker(source, checker.input_names, auto_validation(config.validation), name="auto")
    logger.info("auto: judging the variants on its own validation set %s", auto_checker.describe())
    fp32_on_auto = auto_checker.validate(fp32.path, "fp32", "fp32")
    return choose_auto(
        fp32_on_auto,
        auto_checker,
        int8,
        max_agreement_drop=config.max_agreement_drop,
        show_progress=config.show_progress,
    )


def _metadata(
    source: SourceModel, input_names: tuple[str, ...], variant: str, provenance: dict[str, Any]
) -> dict[str, str]:
    return build_metadata(
        id2label=source.id2label,
        tokenizer_json=tokenizer_json_text(source.tokenizer, source.max_length),
        max_length=source.max_length,
        input_names=input_names,
        variant=variant,
        provenance=provenance,
        max_positions=max_positions(source.hf_config),
        input_kind=source.input_kind,
        head=head_of(source.hf_config),
    )


def _write_artifact(
    out: Path, result: ExportResult, quantized: QuantizedGraph, source: SourceModel, config: ExportConfig
) -> None:
    """Move the final graph into place atomically: one file, or the folder layout (what Optimum and the runtime load,
    plus transformers.js' onnx/ subfolder, hard links to the same graphs) with its export_report.json."""
    final = quantized.final
    if result.folder is None:
        with atomic_file(out) as tmp:
            shutil.copyfile(final.path, tmp)
        return
    report = {"config": dataclasses.asdict(config), "result": result.to_dict()}
    with atomic_dir(out) as tmp:
        root = write_folder_layout(tmp, final.path, source.model_dir, source.tokenizer, report)
        add_web_layout(
            tmp,
            fp32=root if final.variant == "fp32" else quantized.fp32.path,
            int8=root if quantized.preset is not None else None,
            fp16=root if final.variant == "fp16" else None,
            max_length=source.max_length,
            input_kind=source.input_kind,
        )
