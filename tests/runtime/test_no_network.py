"""No asdfd process opens a connection: onnxruntime's telemetry client (which connects about ten seconds into any
process that loaded it) is off, proven by long-lived processes whose proxy is a local catcher.

Every process gets HTTP(S)_PROXY/ALL_PROXY pointing at a listening socket on 127.0.0.1 that records what arrives;
nothing leaves the machine. A control process asks for onnxruntime's telemetry (ORT_DISABLE_TELEMETRY=0, which asdfd
respects): it must reach the catcher, or the catcher proves nothing and the test is skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

SECONDS = 14.0
"""How long each process lives: onnxruntime 1.32's client first connects about 9.6 s after start."""

RUNTIME_LOOP = """
import sys, time
from asdfd.runtime import Classifier
classifier = Classifier.load(sys.argv[1], threads=1)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    classifier.predict(["a short text", "another one"])
    time.sleep(0.05)
print("done")
"""

HEAVY_LOOP = """
import sys, time
import asdfd.pipeline  # torch, transformers, optimum, the exporter: what `compress run` loads
from asdfd.runtime import Classifier
classifier = Classifier.load(sys.argv[1], threads=1)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    classifier.predict(["a short text"])
    time.sleep(0.05)
print("done")
"""


class Catcher:
    """A local socket standing in for a proxy: records the first line of every connection, answers nothing."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1.0)
                try:
                    self.seen.append(connection.recv(200).split(b"\r\n")[0])
                except OSError:
                    self.seen.append(b"(connection without a request line)")

    def environment(self, **extra: str) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "HF_HUB_DISABLE_TELEMETRY")}
        env.update({name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")})
        env.pop("NO_PROXY", None), env.pop("no_proxy", None)
        return {**env, **extra}

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.server.close()


def test_long_lived_processes_open_no_connection(tiny_teacher_onnx):
    cases = {
        "runtime": (RUNTIME_LOOP, {}),
        "compress": (HEAVY_LOOP, {}),
        "control": (RUNTIME_LOOP, {"ORT_DISABLE_TELEMETRY": "0"}),
    }
    catchers = {name: Catcher() for name in cases}
    try:
        processes = {
            name: subprocess.Popen(
                [sys.executable, "-c", code, str(tiny_teacher_onnx), str(SECONDS)],
                env=catchers[name].environment(**extra),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, (code, extra) in cases.items()
        }
        outputs = {name: process.communicate(timeout=SECONDS + 120) for name, process in processes.items()}
        time.sleep(0.5)  # a connection made at the very end is still recorded
    finally:
        for catcher in catchers.values():
            catcher.close()
    for name, process in processes.items():
        assert process.returncode == 0 and "done" in outputs[name][0], f"{name}: {outputs[name][1][-2000:]}"
    assert catchers["runtime"].seen == [], f"the runtime connected out: {catchers['runtime'].seen}"
    assert catchers["compress"].seen == [], f"a compress-like process connected out: {catchers['compress'].seen}"
    if not catchers["control"].seen:
        pytest.skip("onnxruntime no longer phones home even when asked to: the catcher proves nothing here")
    assert any(b"CONNECT" in line for line in catchers["control"].seen)


def test_onnxruntime_imported_first_is_said(tiny_teacher_onnx):
    """Too late to turn it off: the runtime says so (once) instead of promising what it cannot keep."""
    code = (
        "import onnxruntime, logging; logging.basicConfig();"
        "from asdfd.runtime import Classifier; Classifier.load(__import__('sys').argv[1]); "
        "Classifier.load(__import__('sys').argv[1])"
    )
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_teacher_onnx)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("onnxruntime was imported before asdfd") == 1, result.stderr
