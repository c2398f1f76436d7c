"""The export's provenance record, embedded in the artifact: source, versions, machine, options, each step's result."""

from __future__ import annotations

import dataclasses
from typing import Any

from asdfd.core.hardware import detect_cpu_features, package_versions
from asdfd.export.export_config import ExportConfig
from asdfd.export.fused import OptimizedGraph
from asdfd.export.onnx import ExportedGraph
from asdfd.export.optimize import FusionAudit
from asdfd.export.source import SourceModel, describe_source
from asdfd.export.variants import QuantizedGraph

__all__ = ["export_provenance"]


def export_provenance(
    source: SourceModel,
    config: ExportConfig,
    graph: ExportedGraph,
    optimized: OptimizedGraph,
    quantized: QuantizedGraph,
    audit: FusionAudit,
) -> dict[str, Any]:
    """Where the artifact came from and how it was checked (JSON-ready; `build_metadata` adds the time)."""
    return {
        "source": describe_source(source),
        "versions": package_versions(),
        "cpu": detect_cpu_features().to_dict(),
        "options": dataclasses.asdict(config),
        "exporter": graph.exporter,
        "opset": config.opset,
        "optimization": optimized.record,
        "fusions": audit.to_dict(),
        **quantized.provenance(),
    }
