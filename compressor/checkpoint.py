"""Checkpoints of a distillation run, kept beside (not inside) the output folder.

The output folder is written atomically only when the run is complete, so the checkpoint lives in a
hidden sibling, `.<out_name>.ckpt/state.pt`. Each save replaces the file atomically: a crash or Ctrl-C
during a save leaves the previous good checkpoint. Loading uses `weights_only=True` (tensors and plain
Python values only; nothing is unpickled as code).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from asdfd.core._io import atomic_file
from asdfd.core.errors import ModelLoadError

__all__ = ["checkpoint_dir", "save_checkpoint", "load_checkpoint", "remove_checkpoint", "CHECKPOINT_FORMAT"]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
_STATE_FILE = "state.pt"


def checkpoint_dir(out_dir: str | Path) -> Path:
    """The hidden sibling folder holding the checkpoint of a run writing `out_dir`."""
    out_dir = Path(out_dir)
    return out_dir.parent / f".{out_dir.name}.ckpt"


def save_checkpoint(folder: Path, state: dict[str, Any]) -> Path:
    """Write `state` (tensors and plain values) atomically to `folder/state.pt`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _STATE_FILE
    with atomic_file(target) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)
    logger.debug("checkpoint at step %s written to %s", state.get("step"), target)
    return target


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is no checkpoint.

    Raises:
        ModelLoadError: the file exists but cannot be read, or has another format.
    """
    target = folder / _STATE_FILE
    if not target.is_file():
        return None
    try:
        state = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelLoadError(
            f"cannot read checkpoint {target} ({type(err).__name__}): delete it to start over"
        ) from None
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(
            f"checkpoint {target} has format {state.get('format')}, expected {CHECKPOINT_FORMAT}: "
            "delete it to start over"
        )
    return state


def remove_checkpoint(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
