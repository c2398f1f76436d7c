"""The top layer: `compress run` (distill -> export -> bench, resumable; `asdfd.pipeline.compress_run`) and the
teacher recipe (`compress teacher`, supervised fine-tuning that demonstrates the product; not part of the data-free
compressor: `asdfd.pipeline.teacher_recipe`)."""

from __future__ import annotations

from asdfd.pipeline import compress_run
from asdfd.pipeline.compress_run import *  # noqa: F403 - the package's API is compress_run's

__all__ = list(compress_run.__all__)
