"""Errors that reach the user as one line.

Everything the product raises on bad input derives from `AsdfdError`; the CLI turns it into
`Error: <message>` and exit code 1, so no library traceback reaches the user.
"""

from __future__ import annotations

__all__ = [
    "AsdfdError",
    "ConfigError",
    "ModelLoadError",
    "DataError",
    "OutputExistsError",
    "TrainingDivergedError",
    "ValidationError",
    "NonFiniteError",
]


class AsdfdError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(AsdfdError, ValueError):
    """An option or config value is out of range or inconsistent."""


class ModelLoadError(AsdfdError):
    """A model folder or file is missing, unreadable, or of an unsupported kind."""


class DataError(AsdfdError, ValueError):
    """An input file or input text is missing, empty, or malformed."""


class OutputExistsError(AsdfdError):
    """The output exists and `--force` was not given."""


class TrainingDivergedError(AsdfdError):
    """A loss became NaN/inf; the last good checkpoint is kept."""


class ValidationError(AsdfdError):
    """An exported model disagrees with its PyTorch source beyond tolerance."""


class NonFiniteError(AsdfdError, ValueError):
    """A label, weight, model output or metric is NaN or infinite where a number is needed: refused, never reported
    as a result (the message names where it was found)."""
