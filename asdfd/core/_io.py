"""Atomic writes: a crash or Ctrl-C never leaves a half-written output that looks valid.

Everything is first written to a hidden temporary sibling of the target (same filesystem, so the
final `os.replace` is atomic) and only renamed into place once complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from asdfd.core.errors import ConfigError, NonFiniteError, OutputExistsError

__all__ = ["atomic_dir", "atomic_file", "write_json_atomic", "check_output_path", "scratch_dir"]


MIN_FREE_BYTES = 256 << 20
"""Free space an output folder must have before long work starts (a small student and its checkpoints)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, *, directory: bool) -> None:
    """Give a finished output the permissions a plain `open`/`mkdir` would (mkstemp/mkdtemp use 0600/0700), so a
    service running as another user can read the model."""
    mode = (0o777 if directory else 0o666) & ~_umask()
    if directory:
        for root, _dirs, files in os.walk(path):
            os.chmod(root, mode)
            for name in files:
                os.chmod(os.path.join(root, name), 0o666 & ~_umask())
    else:
        os.chmod(path, mode)


def check_output_path(
    path: Path, *, force: bool, inputs: tuple[Path, ...] = (), min_free_bytes: int = MIN_FREE_BYTES
) -> None:
    """Before any work: refuse to overwrite `path` unless `force`, or ever an input; require a writable parent
    folder with room (missing parent folders are created, as `mkdir -p` would).

    Args:
        inputs: files or folders the command reads; `path` may be none of them, nor inside or around one.
    """
    path = Path(path)
    resolved = path.resolve()
    for source in _with_link_targets(inputs):
        if resolved == source or source in resolved.parents or resolved in source.parents:
            raise ConfigError(f"--out {path} would overwrite the input {source}: choose another output path")
    parent = resolved.parent
    existing = next(folder for folder in (parent, *parent.parents) if folder.exists())
    if not existing.is_dir():
        raise ConfigError(f"--out {path}: {existing} is a file, not a folder: choose another output path")
    if existing != parent:  # like `mkdir -p`: README's commands write into folders that do not exist yet
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"output folder {existing} is not writable: choose another --out")
        parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"output folder {parent} is not writable: choose another --out")
    free = shutil.disk_usage(parent).free
    if free < min_free_bytes:
        raise ConfigError(
            f"output folder {parent} has only {free >> 20} MiB free (at least {min_free_bytes >> 20} "
            "MiB needed): free some space or choose another --out"
        )
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists: pass --force to overwrite it")


def _with_link_targets(inputs: tuple[Path, ...]) -> list[Path]:
    """The inputs, resolved, plus the real targets of the links inside input folders (a Hugging Face cache snapshot
    is a folder of links into the cache's blobs/: writing over those would destroy the cached model)."""
    found = []
    for source in map(Path, inputs):
        found.append(source.resolve())
        if source.is_dir():
            found += [entry.resolve() for entry in source.iterdir() if entry.is_symlink()]
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _remove_stale(folder: Path, prefix: str) -> None:
    """Delete `prefix<pid>-*` entries of `folder` whose process is gone (left by kill -9 or a power cut)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        rest = entry.name[len(prefix) :] if entry.name.startswith(prefix) else ""
        pid = rest.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_dir(name: str) -> Iterator[Path]:
    """A private temporary folder `asdfd-<name>-<pid>-*` in the system temp dir, removed on exit; stale ones of
    dead processes are removed first."""
    prefix = f"asdfd-{name}-"
    _remove_stale(Path(tempfile.gettempdir()), prefix)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `target`, on error it is deleted."""
    target = Path(target)
    parent = target.resolve().parent
    _remove_stale(parent, f".{target.name}.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _publish_mode(tmp, directory=True)
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
    parent = target.resolve().parent
    _remove_stale(parent, f".{target.name}.")
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _publish_mode(tmp, directory=False)
    os.replace(tmp, target)


def write_json_atomic(target: Path, payload: Any) -> None:
    """Write `payload` as indented JSON, atomically.

    Raises:
        NonFiniteError: a NaN/inf anywhere in `payload` (bare `NaN` is not JSON, and never a result); nothing written.
    """
    try:
        text = json.dumps(payload, indent=2, sort_keys=False, default=str, allow_nan=False)
    except ValueError:
        raise NonFiniteError(f"{target} not written: {_non_finite_path(payload)} is not a finite number") from None
    with atomic_file(target) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def _non_finite_path(value: Any, path: str = "") -> str | None:
    """Where the first NaN/inf in a JSON-like value is, as a key path ("metrics.eval_pearson")."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "the value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = _non_finite_path(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None
