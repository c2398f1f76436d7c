"""Teachers by Hugging Face Hub id (`--teacher org/name`), through huggingface_hub and its local cache.

An existing folder is always taken as is. Anything else of the form `org/name` (optionally `@revision`) is looked
up in the Hub cache first (`HF_HUB_CACHE` / `HF_HOME`, as huggingface_hub reads them); only when it is not there and
neither `HF_HUB_OFFLINE` nor `local_only` forbids it is it downloaded. The download fetches configuration, tokenizer
and safetensors weights only (never `*.py`, pickles or other formats), and the folder then goes through the same
checks as a local one (`asdfd.core.model_folder.read_classifier_config`: no `auto_map`, a sequence classifier of a
supported family), so a Hub id never brings code with it.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from asdfd.core.errors import ModelLoadError

__all__ = ["resolve_model_dir", "looks_like_hub_id", "HUB_FILES"]

logger = logging.getLogger(__name__)

HUB_FILES = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spm.model",
    "added_tokens.json",
]
"""What a download fetches: enough to load a classifier and its tokenizer, and nothing executable."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")


def looks_like_hub_id(name: str) -> bool:
    """`org/name` or `org/name@revision` that huggingface_hub accepts as a repository id (a path that does not exist
    and has this form)."""
    if not _HUB_ID.match(name) or ".." in name:
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name.partition("@")[0])
    except HFValidationError:  # "a--b", "x.git", over 96 characters: a path, not an id
        return False
    return True


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model_dir(name: str | Path, *, local_only: bool = False) -> Path:
    """A local folder for `name`: the folder itself, or the Hub id's snapshot (from the cache, else downloaded).

    Args:
        local_only: never download, even when the network allows it (what tests and air-gapped runs want).
    Raises:
        ModelLoadError: a Hub id that is neither cached nor downloadable, in one line saying what to do.
    """
    path = Path(name)
    text = str(name)
    if path.exists() or not looks_like_hub_id(text):
        return path  # a folder, or a path whose absence read_classifier_config reports
    repo_id, _, revision = text.partition("@")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache_dir = os.environ.get("HF_HUB_CACHE") or None
    try:
        snapshot = snapshot_download(
            repo_id, revision=revision or None, cache_dir=cache_dir, local_files_only=True, allow_patterns=HUB_FILES
        )
        logger.info("teacher %s from the local Hugging Face cache: %s", text, snapshot)
        return Path(snapshot)
    except LocalEntryNotFoundError:
        pass
    if Path(repo_id).parent.is_dir():  # "artifacts/teacher-sst" with artifacts/ here: a mistyped folder
        raise ModelLoadError(
            f"model folder {text} does not exist (nor is {repo_id} a Hub id in the local cache): check the path"
        )
    if local_only or _offline():
        raise ModelLoadError(
            f"{text} is neither a folder nor in the local Hugging Face cache (offline): download it on a machine "
            f"with network (`huggingface-cli download {repo_id}`) or pass a model folder"
        ) from None
    try:
        snapshot = snapshot_download(repo_id, revision=revision or None, cache_dir=cache_dir, allow_patterns=HUB_FILES)
    except Exception as err:  # noqa: BLE001 - network, auth, 404: the user needs one line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(
            f"{text} is not a folder and could not be fetched from the Hugging Face Hub ({type(err).__name__}: "
            f"{reason.rstrip('.')}): check the id, the network, or pass a model folder"
        ) from None
    logger.info("teacher %s downloaded to %s", text, snapshot)
    return Path(snapshot)
