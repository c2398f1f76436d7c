"""`export_onnx`: Hugging Face sequence classifier folder -> validated, self-contained ONNX artifact.

Steps (all intermediates in a scratch folder; the output appears only, atomically, at the end):
export fp32 -> validate vs PyTorch -> fuse (kept if it validates and is not slower) -> quantize
(int8 dynamic / int8 static with data-free calibration / fp16 / auto) -> validate -> embed metadata
-> rename into place. A failed validation raises `ValidationError` with the figures, writing nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asdfd._io import atomic_dir, atomic_file, check_output_path, scratch_dir
from asdfd.architectures import architecture_of
from asdfd.errors import ConfigError, ModelLoadError, ValidationError
from asdfd.export.config import ExportConfig, QuantizationPreset
from asdfd.heads import head_of
from asdfd.hub import resolve_model_dir
from asdfd.models import LOCAL_ONLY, input_kind, max_positions, read_classifier_config, require_tokenizer

__all__ = ["ExportResult", "export_onnx"]

logger = logging.getLogger(__name__)

_OPTIMIZED_MAX_SLOWDOWN = 1.25
_OPTIMIZED_MIN_LOSS_MS = 1.0
"""The fused graph is kept unless it is both 25% and 1 ms slower than the unfused one: timings of small
models on shared CPUs are noisy, and fusions rarely lose on CPU."""


@dataclass
class ExportResult:
    """What `export_onnx` wrote and measured."""

    path: Path
    """The .onnx file written (`DIR/model.onnx` in folder mode)."""
    folder: Path | None
    """The folder layout, when `out` was a folder."""
    variant: str
    """What the file holds: "fp32", "fp16" or an int8 preset name (auto: the one it chose)."""
    exporter: str
    input_names: tuple[str, ...]
    size_mb: float
    fp32_size_mb: float
    validation: dict[str, Any]
    """Figures of the final graph ("final") and of the fp32 graph ("fp32") against PyTorch."""
    fusions: dict[str, Any]
    optimization: dict[str, Any]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    """--quantize auto: every variant tried, with agreement, latency and whether it was eligible."""
    fallbacks: list[str] = field(default_factory=list)
    """Quantized variants that failed validation and were replaced by the next one (their verdicts)."""
    cpu: dict[str, Any] = field(default_factory=dict)
    validation_provider: str = "CPUExecutionProvider"
    """The onnxruntime provider the final graph was validated on (fp16: CUDA where onnxruntime has it)."""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["path"], data["folder"] = str(self.path), (str(self.folder) if self.folder else None)
        return data

    def summary(self) -> str:
        final = self.validation["final"]
        line = (
            f"{self.path} ({self.variant}, {self.size_mb:.1f} MB = {100 * self.size_mb / self.fp32_size_mb:.0f}% "
            f"of fp32): {final['verdict']}"
        )
        if self.fallbacks:
            line += f" [fallback after {len(self.fallbacks)} failed variant(s): {'; '.join(self.fallbacks)}]"
        return line


def _is_folder_target(out: str | os.PathLike[str]) -> bool:
    text = os.fspath(out)
    return text.endswith(("/", os.sep)) or Path(text).suffix.lower() != ".onnx"


def _load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    require_tokenizer(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True, **LOCAL_ONLY)
    except (OSError, ValueError, TypeError) as err:
        raise ModelLoadError(f"{model_dir} has no usable tokenizer: {str(err).splitlines()[0]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{model_dir} has only a slow tokenizer; the artifact needs a fast one (tokenizer.json)")
    return tokenizer


def _validation_texts(config: ExportConfig) -> list[str]:
    """The eval file's texts that validation compares on (none when no file is given)."""
    validation = config.validation
    if validation.eval_file is None:
        return []
    from asdfd.data import read_labelled_file

    data = read_labelled_file(
        validation.eval_file, text_column=validation.text_column, label_column=None, require_labels=False
    )
    return data.texts[: validation.max_eval_texts]


def _int8_fallbacks(preset: QuantizationPreset, dynamic: QuantizationPreset) -> list[QuantizationPreset]:
    """The recipes tried in order when a quantized graph fails validation: the requested one, the CPU's
    dynamic recipe (for a static request), then dynamic with fp32 word embeddings (the table is half of a
    small model's weights and the likeliest to cost accuracy)."""
    from asdfd.export.config import dynamic_preset

    chain = [preset, dynamic, dynamic_preset(reduce_range=dynamic.reduce_range, quantize_embeddings=False)]
    unique: list[QuantizationPreset] = []
    for candidate in chain:
        if candidate.name not in {c.name for c in unique}:
            unique.append(candidate)
    return unique


def _size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


class _Exporter:
    """One export run: holds the loaded model, the validation set and the scratch folder."""

    def __init__(
        self, model_dir: Path, config: ExportConfig, scratch: Path, calibration_samples: tuple[Any, Any] | None = None
    ) -> None:
        from asdfd.export.onnx import load_torch_classifier
        from asdfd.tokens import SpecialTokens

        self.model_dir, self.config, self.scratch = model_dir, config, scratch
        self.calibration_samples = calibration_samples
        self.hf_config = read_classifier_config(model_dir)
        limit = max_positions(self.hf_config)
        self.max_length = min(config.max_length, limit)
        if self.max_length < config.max_length:
            logger.warning(
                "--max-length %d exceeds the model's %d positions: using %d", config.max_length, limit, limit
            )
        self.real_texts = _validation_texts(config)
        self.tokenizer = _load_tokenizer(model_dir)
        self.model = load_torch_classifier(model_dir)
        self.space = SpecialTokens.from_tokenizer(self.tokenizer, self.model.config.vocab_size, source=str(model_dir))
        arch = architecture_of(self.hf_config)
        self.num_layers = arch.num_layers(self.hf_config)
        self.input_kind = input_kind(self.hf_config, config.input_kind)
        if self.input_kind == "pair":  # validation and calibration inputs are pairs, with their segment ids
            self.space = self.space.for_pairs(arch.pair_separators)

    # -- steps ---------------------------------------------------------------------------------------
    def export_fp32(self) -> None:
        from asdfd.export.onnx import export_fp32_graph
        from asdfd.export.validate import make_validation_set

        self.graph = export_fp32_graph(
            self.model_dir, self.model, self.scratch, opset=self.config.opset, exporter=self.config.exporter
        )
        self.input_names = self.graph.input_names
        self.validation_set = make_validation_set(
            self.model,
            self.space,
            self.input_names,
            self.config.validation,
            self.max_length,
            tokenizer=self.tokenizer,
            real_texts=self.real_texts,
        )
        self.fp32_report = self._validate(self.graph.path, "fp32", "fp32")
        if not self.fp32_report.passed:
            raise ValidationError(f"ONNX export does not match PyTorch: {self.fp32_report.verdict()}")
        self.fp32_path = self.graph.path

    def optimize(self) -> None:
        from asdfd.export.optimize import optimize_graph

        self.optimization: dict[str, Any] = {"requested": self.config.optimize, "applied": False}
        if not self.config.optimize:
            self.optimization["reason"] = "--no-optimize"
            return
        target = self.scratch / "model.optimized.onnx"
        try:
            audit = optimize_graph(
                self.fp32_path,
                target,
                num_heads=0,
                hidden_size=0,
                num_layers=self.num_layers,
                device="cuda" if self.config.quantize == "fp16" else "cpu",
            )
        except Exception as err:  # noqa: BLE001 - the optimizer is best-effort; the unfused graph is valid
            logger.warning("transformer optimizer failed (%s); keeping the unfused graph", str(err).splitlines()[0])
            self.optimization["reason"] = f"optimizer failed: {str(err).splitlines()[0]}"
            return
        report = self._validate(target, "fp32-optimized", "fp32")
        base_ms, fused_ms = self._latency(self.fp32_path), self._latency(target)
        self.optimization.update(
            fusions=audit.to_dict(),
            latency_ms={"unfused": base_ms, "fused": fused_ms},
            max_abs_diff=report.max_abs_diff,
        )
        if not report.passed:
            self.optimization["reason"] = f"fused graph failed validation: {report.verdict()}"
            logger.warning("keeping the unfused graph: %s", report.verdict())
        elif fused_ms > base_ms * _OPTIMIZED_MAX_SLOWDOWN and fused_ms - base_ms > _OPTIMIZED_MIN_LOSS_MS:
            self.optimization["reason"] = f"fused graph slower ({fused_ms:.2f} ms vs {base_ms:.2f} ms)"
            logger.warning("keeping the unfused graph: %s", self.optimization["reason"])
        else:
            self.optimization.update(applied=True, reason="validated and not slower")
            self.fp32_path, self.fp32_report = target, report

    def quantize(self) -> tuple[Path, str, Any]:
        """Returns (path, variant name, validation report) of the final graph."""
        mode = self.config.quantize
        self.candidates: list[dict[str, Any]] = []
        self.fallbacks: list[str] = []
        self.preset: QuantizationPreset | None = None
        if mode == "none":
            return self.fp32_path, "fp32", self.fp32_report
        if mode == "fp16":
            return self._fp16()
        if mode == "auto":
            return self._auto()
        from asdfd.export.cpu import preset_for_cpu

        kind = "static" if mode == "int8-static" else "dynamic"
        preset = self.config.preset or preset_for_cpu(kind)
        for candidate in _int8_fallbacks(preset, preset_for_cpu("dynamic")):
            path = self._int8(candidate)
            report = self._validate(path, candidate.name, "int8")
            if report.passed or self.config.strict:
                self.preset = candidate
                return path, candidate.name, report
            self.fallbacks.append(report.verdict())
            logger.warning("int8 %s failed validation; trying the next recipe (%s)", candidate.name, report.verdict())
        logger.warning(
            "no int8 recipe validated: the artifact is fp32 (%.1f MB). Pass --eval-file to judge int8 on "
            "real texts, or --quantize none to silence this",
            _size_mb(self.fp32_path),
        )
        return self.fp32_path, "fp32", self.fp32_report

    # -- variants ------------------------------------------------------------------------------------
    def _preprocessed(self) -> Path:
        from asdfd.export.quantize import preprocess_for_quantization

        target = self.scratch / "model.preprocessed.onnx"
        if not target.exists():
            preprocess_for_quantization(self.fp32_path, target)
        return target

    def _int8(self, preset: QuantizationPreset) -> Path:
        from asdfd.export.quantize import quantize_dynamic_int8, quantize_static_int8

        target = self.scratch / f"model.{preset.name}.onnx"
        source = self._preprocessed()
        started = time.perf_counter()
        if preset.mode == "dynamic":
            quantize_dynamic_int8(source, target, preset)
        else:
            quantize_static_int8(
                source, target, preset, self._calibration_reader(), chunk_batches=self.config.calibration.chunk_batches
            )
        logger.info("int8 %s: %.1f MB in %.1f s", preset.name, _size_mb(target), time.perf_counter() - started)
        return target

    def _calibration_reader(self) -> Any:
        from tqdm.auto import tqdm

        from asdfd.export.calibration import FeedReader, make_calibration_source
        from asdfd.export.validate import make_session

        calibration = self.config.calibration
        source = make_calibration_source(
            calibration,
            space=self.space,
            max_length=self.max_length,
            fp32_session=make_session(self.fp32_path),
            input_names=self.input_names,
            samples=self.calibration_samples,
        )
        progress = tqdm(
            total=source.num_batches,
            desc=f"calibration ({source.name})",
            unit="batch",
            disable=not self.config.show_progress,
            leave=False,
        )
        logger.info(
            "calibrating on %d generated batches of %d (%s), %d batches in memory at a time",
            source.num_batches,
            calibration.batch_size,
            source.name,
            calibration.chunk_batches,
        )
        self.calibration_reader = FeedReader(source, self.input_names, progress=progress)
        return self.calibration_reader

    def _fp16(self) -> tuple[Path, str, Any]:
        import onnxruntime as ort

        from asdfd.export.quantize import convert_fp16

        target = self.scratch / "model.fp16.onnx"
        convert_fp16(self.fp32_path, target)
        cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        self.fp16_provider = providers[0]
        if not cuda:
            logger.warning("fp16 is meant for the CUDA provider, which this onnxruntime lacks: validating on CPU")
        try:
            report = self._validate(target, "fp16", "fp16", providers=providers)
        except Exception as err:  # noqa: BLE001 - ORT raises its own exception types for missing kernels
            raise ValidationError(
                f"the fp16 graph cannot run on {providers[0]} here ({str(err).splitlines()[0]}); "
                "fp16 targets the CUDA provider: export on a machine with onnxruntime-gpu"
            ) from None
        return target, "fp16", report

    def _auto(self) -> tuple[Path, str, Any]:
        from tqdm.auto import tqdm

        from asdfd.export.cpu import detect_cpu_features
        from asdfd.export.quantize import auto_candidates
        from asdfd.export.validate import make_validation_set

        budget = self.config.max_agreement_drop
        # A larger generated set than the default validation, so that the budget is resolvable.
        auto_config = dataclasses.replace(
            self.config.validation,
            num_samples=self.config.validation.auto_num_samples,
            seed=self.config.validation.seed + 1,
        )
        self.validation_set = make_validation_set(
            self.model,
            self.space,
            self.input_names,
            auto_config,
            self.max_length,
            tokenizer=self.tokenizer,
            real_texts=self.real_texts,
        )
        self.fp32_report = self._validate(self.fp32_path, "fp32", "fp32")
        base_agreement = self.fp32_report.primary_agreement
        fp32_ms = self._latency(self.fp32_path)
        best = (fp32_ms, self.fp32_path, "fp32", self.fp32_report)
        self.candidates.append(
            {
                "variant": "fp32",
                "latency_ms": fp32_ms,
                "agreement": base_agreement,
                "size_mb": _size_mb(self.fp32_path),
                "eligible": True,
            }
        )
        presets = auto_candidates(detect_cpu_features())
        for preset in tqdm(presets, desc="auto", disable=not self.config.show_progress, leave=False):
            try:
                path = self._int8(preset)
                report = self._validate(path, preset.name, "int8")
            except (ValidationError, RuntimeError, ValueError) as err:
                logger.warning("auto: %s failed: %s", preset.name, str(err).splitlines()[0])
                self.candidates.append({"variant": preset.name, "error": str(err).splitlines()[0], "eligible": False})
                continue
            latency = self._latency(path)
            drop = 100 * (base_agreement - report.primary_agreement)
            eligible = drop <= budget and report.agreement >= report.min_random_agreement
            self.candidates.append(
                {
                    "variant": preset.name,
                    "latency_ms": latency,
                    "agreement": report.primary_agreement,
                    "random_agreement": report.agreement,
                    "agreement_drop_points": drop,
                    "size_mb": _size_mb(path),
                    "eligible": eligible,
                }
            )
            logger.info(
                "auto: %-40s %.2f ms, agreement drop %.2f points%s",
                preset.name,
                latency,
                drop,
                "" if eligible else f" (over the {budget} point budget)",
            )
            if eligible and latency < best[0]:
                best = (latency, path, preset.name, report)
                self.preset = preset
        logger.info("auto: kept %s (%.2f ms; fp32 %.2f ms)", best[2], best[0], fp32_ms)
        # The criterion that chose it is the budget; report it against the same threshold.
        final = dataclasses.replace(best[3], min_agreement=max(0.0, base_agreement - budget / 100))
        return best[1], best[2], final

    # -- helpers -------------------------------------------------------------------------------------
    def _validate(self, path: Path, variant: str, precision: str, providers: list[str] | None = None) -> Any:
        from asdfd.export.validate import make_session, validate_graph

        return validate_graph(
            make_session(path, providers),
            self.validation_set,
            self.input_names,
            variant=variant,
            precision=precision,
            config=self.config.validation,
        )

    def _latency(self, path: Path) -> float:
        from asdfd.export.validate import make_session, measure_latency_ms

        return measure_latency_ms(
            make_session(path),
            self.input_names,
            self.space,
            seq_length=min(32, self.max_length),
            runs=self.config.validation.latency_runs,
        )


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
        model_dir: folder with config.json, weights and a fast tokenizer (a family of asdfd.architectures).
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
    folder_mode = _is_folder_target(out)
    out = Path(out)
    read_classifier_config(model_dir)  # one-line errors before anything heavy is imported
    validation_file = config.validation.eval_file
    check_output_path(out, force=force, inputs=(model_dir, *([Path(validation_file)] if validation_file else [])))
    if not folder_mode and out.is_dir():
        raise ConfigError(f"{out} is a folder: give a path ending in .onnx, or a folder path for the folder layout")

    from asdfd.export.cpu import detect_cpu_features
    from asdfd.export.optimize import audit_fusions
    from asdfd.export.package import (
        build_metadata,
        embed_metadata,
        hash_model_folder,
        tokenizer_json_text,
        write_folder_layout,
    )
    from asdfd.hardware import package_versions

    with scratch_dir("export") as scratch:
        run = _Exporter(model_dir, config, scratch, calibration_samples)
        run.export_fp32()
        run.optimize()
        final_path, variant, report = run.quantize()
        if not report.passed:
            raise ValidationError(f"exported {variant} graph failed validation, nothing written: {report.verdict()}")
        audit = audit_fusions(final_path, run.num_layers)
        if not audit.attention_fused:
            (logger.warning if config.optimize else logger.info)(
                "fusion audit: attention not fused, expect slower inference (%s)", audit.summary()
            )
        else:
            logger.info("fusion audit: %s", audit.summary())
        validation = {
            "final": {**report.to_dict(), "verdict": report.verdict()},
            "fp32": {**run.fp32_report.to_dict(), "verdict": run.fp32_report.verdict()},
        }
        reader = getattr(run, "calibration_reader", None)
        calibration = None
        if reader is not None:
            calibration = {
                **dataclasses.asdict(config.calibration),
                "num_batches": len(reader),
                "max_batches_in_memory": reader.max_batches_per_range,
            }
        cpu = detect_cpu_features().to_dict()
        provider = getattr(run, "fp16_provider", "CPUExecutionProvider")
        provenance = {
            "source": {
                "path": str(model_dir.resolve()),
                "sha256": hash_model_folder(model_dir),
                "model_type": run.hf_config.get("model_type"),
                "num_layers": run.num_layers,
            },
            "versions": package_versions(),
            "options": dataclasses.asdict(config),
            "exporter": run.graph.exporter,
            "opset": config.opset,
            "variant": variant,
            "fusions": audit.to_dict(),
            "optimization": run.optimization,
            "validation": validation,
            "validation_provider": provider,
            "quantization": dataclasses.asdict(run.preset) if run.preset else None,
            "calibration": calibration,
            "auto_candidates": run.candidates,
            "fallbacks": run.fallbacks,
            "cpu": cpu,
        }
        metadata = build_metadata(
            id2label={int(k): v for k, v in run.model.config.id2label.items()},
            tokenizer_json=tokenizer_json_text(run.tokenizer, run.max_length),
            max_length=run.max_length,
            input_names=run.input_names,
            variant=variant,
            provenance=provenance,
            max_positions=max_positions(run.hf_config),
            input_kind=run.input_kind,
            head=head_of(run.hf_config),
        )
        embed_metadata(final_path, metadata)
        result = ExportResult(
            path=out,
            folder=None,
            variant=variant,
            exporter=run.graph.exporter,
            input_names=run.input_names,
            size_mb=_size_mb(final_path),
            fp32_size_mb=_size_mb(run.fp32_path),
            validation=validation,
            fusions=audit.to_dict(),
            optimization=run.optimization,
            candidates=run.candidates,
            fallbacks=run.fallbacks,
            cpu=cpu,
            validation_provider=provider,
        )
        if folder_mode:
            result.folder, result.path = out, out / "model.onnx"
            result.elapsed_s = time.perf_counter() - started
            with atomic_dir(out) as tmp:
                write_folder_layout(
                    tmp,
                    final_path,
                    model_dir,
                    run.tokenizer,
                    {"config": dataclasses.asdict(config), "result": result.to_dict()},
                )
        else:
            with atomic_file(out) as tmp:
                shutil.copyfile(final_path, tmp)
    result.elapsed_s = time.perf_counter() - started
    logger.info("%s", result.summary())
    return result
