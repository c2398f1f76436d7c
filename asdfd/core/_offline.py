"""No network unless the user asks for a Hub download: the libraries' own telemetry is off in every asdfd process.

onnxruntime (>= 1.2x on Linux) ships a telemetry client that, about ten seconds into any process that loaded it,
connects to a Microsoft collector; `onnxruntime.disable_telemetry_events()` does not stop it. The
`ORT_DISABLE_TELEMETRY` environment variable does, but only when it is set before onnxruntime's native library is
loaded, so `asdfd/__init__.py` calls `turn_telemetry_off()` before anything imports onnxruntime. A value the user set
is kept (setting it to 0 is asking for telemetry). huggingface_hub's telemetry is turned off the same way.
"""

from __future__ import annotations

import os
import sys

__all__ = ["TELEMETRY_SWITCHES", "turn_telemetry_off", "telemetry_left_on"]

TELEMETRY_SWITCHES = {"ORT_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
"""Environment variables that turn the libraries' telemetry off, with the value that does."""

_ORT_LOADED_FIRST = False


def turn_telemetry_off() -> None:
    """Set the switches the user did not set; remember whether onnxruntime was already loaded (then too late)."""
    global _ORT_LOADED_FIRST
    _ORT_LOADED_FIRST = "onnxruntime" in sys.modules and "ORT_DISABLE_TELEMETRY" not in os.environ
    for name, value in TELEMETRY_SWITCHES.items():
        os.environ.setdefault(name, value)


def telemetry_left_on() -> str | None:
    """Why onnxruntime's telemetry may still be on in this process, or None."""
    if _ORT_LOADED_FIRST:
        return (
            "onnxruntime was imported before asdfd, so its telemetry could not be turned off in this process: "
            "import asdfd first, or set ORT_DISABLE_TELEMETRY=1 in the environment"
        )
    return None
