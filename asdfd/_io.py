"""Atomic writes: a crash or Ctrl-C never leaves a half-written output that looks valid.

Everything is first written to a hidden temporary sibling of the target (same filesystem, so the
final `os.replace` is atomic) and only renamed into place once complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asdfd.errors import ConfigError, OutputExistsError

__all__ = ["atomic_dir", "atomic_file", "write_json_atomic", "check_output_path"]


def check_output_path(path: Path, *, force: bool) -> None:
    """Refuse to overwrite `path` unless `force`, and require a writable parent folder."""
    path = Path(path)
    parent = path.resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"output folder {parent} does not exist: create it first")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"output folder {parent} is not writable: choose another --out")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists: pass --force to overwrite it")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `target`, on error it is deleted."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.resolve().parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.is_dir() and not target.is_symlink():
        # Two renames keep the window in which no complete `target` exists as short as possible.
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if target.exists():
            target.unlink()
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary file path beside `target`; on success it replaces `target`."""
    target = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.resolve().parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)


def write_json_atomic(target: Path, payload: Any) -> None:
    """Write `payload` as indented JSON, atomically."""
    with atomic_file(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
