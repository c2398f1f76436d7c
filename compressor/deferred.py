"""`deferred("torch")`: a module imported on first attribute access.

A synthesis method's file holds its config dataclass and its synthesizer together; the config must stay
importable without torch (the CLI builds `--help` from it), so the synthesizer's heavy imports are deferred.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["deferred"]


class _Deferred(types.ModuleType):
    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self.__name__)
        return getattr(module, attribute)


def deferred(name: str) -> Any:
    """A stand-in for module `name` that imports it when an attribute is first read."""
    return _Deferred(name)
