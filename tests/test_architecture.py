"""The package graph is acyclic, in the order README's development section gives, and imports stay cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"asdfd": "asdfd", "compressor": "asdfd.compressor", "export": "asdfd.export", "runtime": "asdfd.runtime"}

LAYERS = [  # (layer, module prefixes), bottom first; a module may import its own layer and the ones below
    ("core", ("asdfd.core",)),
    ("runtime", ("asdfd.runtime",)),
    ("export", ("asdfd.export",)),
    ("compressor", ("asdfd.compressor",)),
    ("bench", ("asdfd.runtime.bench",)),
    ("pipeline", ("asdfd.pipeline",)),
    ("cli", ("asdfd.cli",)),
]
RANK = {"core": 0, "runtime": 1, "export": 2, "compressor": 2, "bench": 3, "pipeline": 4, "cli": 5}
"""export and compressor share a rank: siblings, neither imports the other."""


def layer_of(module: str) -> str | None:
    best = None
    for layer, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (layer, len(prefix))
    return best[0] if best else None


def module_name(path: Path) -> str:
    relative = path.relative_to(REPO)
    parts = [FOLDERS[relative.parts[0]], *relative.parts[1:-1]]
    if relative.stem != "__init__":
        parts.append(relative.stem)
    return ".".join(parts)


def _imports(tree: ast.AST):
    """Every imported module, at any depth (function-level imports count), except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        stack.extend(ast.iter_child_nodes(node))


def test_package_graph_follows_the_layers():
    violations, checked = [], 0
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            source = module_name(path)
            source_layer = layer_of(source)
            if source == "asdfd":  # the top package only re-exports lazily (strings, not imports)
                continue
            assert source_layer, f"{source} belongs to no layer: add it to LAYERS"
            for target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
                if not target.startswith("asdfd"):
                    continue
                checked += 1
                target_layer = layer_of(target) or "core"
                same = target_layer == source_layer
                if not same and RANK[target_layer] >= RANK[source_layer]:
                    violations.append(f"{source} ({source_layer}) imports {target} ({target_layer})")
    assert checked > 50
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize(
    "module, forbidden",
    [
        (
            "asdfd.runtime",
            ("torch", "transformers", "onnx", "matplotlib", "rich", "asdfd.runtime.bench", "asdfd.export"),
        ),
        ("asdfd.export.export_config", ("torch", "onnxruntime", "transformers")),
        ("asdfd.compressor.distill_config", ("torch", "onnxruntime", "transformers")),
        ("asdfd.compressor.synthesis", ("torch", "onnxruntime", "transformers")),
        ("asdfd.pipeline", ("torch", "onnxruntime", "transformers")),
        ("asdfd.cli", ("torch", "onnxruntime", "transformers")),
    ],
)
def test_light_modules_stay_light(module, forbidden):
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"import {module} loaded {loaded}"


def test_lazy_names_resolve():
    import asdfd.compressor
    import asdfd.export
    import asdfd.runtime

    for package in (asdfd.compressor, asdfd.export, asdfd.runtime):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
    with pytest.raises(AttributeError, match="no attribute"):
        asdfd.export.nothing_here  # noqa: B018
