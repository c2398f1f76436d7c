"""What tests/test_js.py shares: tiny students in the folder layout transformers.js loads, the npm install of js/,
the Node and headless-Chromium runs, and a 127.0.0.1 HTTP server for the page.

The tiny students are built like tests/conftest.py's (tiny BERT, random weights) with the heads of
tests/test_heads.py and the pair labels of tests/test_pairs.py, with large initial weights (initializer_range 0.5,
as test_pairs' pair teacher) so that their outputs are far from uniform and int8 labels are no coin flips.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tests.conftest import build_tiny_teacher

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "js"
CHECK_SCRIPT = Path(__file__).resolve().parent / "check.mjs"
PAGE = Path(__file__).resolve().parent / "page.html"

EMOTIONS = {0: "anger", 1: "fear", 2: "joy"}
HEADS: dict[str, dict[str, Any]] = {
    "single": {},
    "multi": dict(
        problem_type="multi_label_classification",
        num_labels=3,
        id2label=EMOTIONS,
        label2id={v: k for k, v in EMOTIONS.items()},
    ),
    "score": dict(num_labels=1, id2label={0: "score"}, label2id={"score": 0}),
    "pair": dict(
        num_labels=2,
        id2label={0: "not_equivalent", 1: "equivalent"},
        label2id={"not_equivalent": 0, "equivalent": 1},
    ),
}
"""config overrides of the tiny BERT per student kind (pair: the labels make it a sentence-pair model)."""

TEXTS = [
    "good movie",
    "the plot was boring and bad",
    "a fun film but the actor was awful",
    "it is not very good",
    "great story",
]
PAIRS = [
    ["good movie", "a good film"],
    ["the plot was awful", "fun story"],
    ["boring", "very boring and bad"],
    ["great actor", "the movie was not fun"],
]
NPM_ENV = {"ONNXRUNTIME_NODE_INSTALL_CUDA": "skip", "ONNXRUNTIME_NODE_INSTALL": "skip"}
"""onnxruntime-node's install script otherwise fetches CUDA binaries from a host outside the package registries."""


@dataclass(frozen=True)
class Student:
    """A tiny student exported twice: `folder` (int8 at its root, + the transformers.js layout) and `fp32` (the
    validated fp32 graph as one .onnx, which `folder/onnx/model.onnx` links to)."""

    kind: str
    folder: Path
    fp32: Path

    @property
    def items(self) -> list:
        return PAIRS if self.kind == "pair" else TEXTS

    def runtime_items(self) -> list:
        return [tuple(p) for p in PAIRS] if self.kind == "pair" else TEXTS

    def contrib_ops(self) -> dict[str, set[str]]:
        """The onnxruntime contrib ops (com.microsoft) of the fp32 and int8 graphs the folder links."""
        import onnx

        graphs = {"fp32": self.folder / "onnx" / "model.onnx", "q8": self.folder / "onnx" / "model_quantized.onnx"}
        return {
            dtype: {node.op_type for node in onnx.load(str(path)).graph.node if node.domain == "com.microsoft"}
            for dtype, path in graphs.items()
        }


def build_student(kind: str, base: Path, *, quantize: str = "int8") -> Student:
    """Export the tiny `kind` student as the exporter's int8 folder (`quantize`: int8 dynamic, or int8-static), which
    holds the transformers.js layout: its validated fp32 graph is `onnx/model.onnx`, with the runtime's metadata."""
    from asdfd.export import ExportConfig, export_onnx

    model_dir = build_tiny_teacher(
        base / f"{kind}-hf", seed=1, num_hidden_layers=1, initializer_range=0.5, **HEADS[kind]
    )
    folder = base / kind
    export_onnx(
        model_dir, f"{folder}/", ExportConfig(quantize=quantize, max_length=64, show_progress=False), force=True
    )
    return Student(kind, folder, folder / "onnx" / "model.onnx")


def python_results(student: Student) -> dict[str, Any]:
    """What asdfd.runtime.Classifier says on the student's items, fp32 and int8: logits and predictions.

    transformers.js runs all the items through the graph as one padded batch, so the runtime is asked to do the same
    (batch_invariant=False): by default it runs a dynamic int8 graph one text at a time, whose per-batch activation
    scales then differ from the batch's, and on the tiny model's near-tie items a label can differ with them."""
    from asdfd.runtime import Classifier

    out = {}
    for dtype, path in (("fp32", student.fp32), ("q8", student.folder / "model.onnx")):
        classifier = Classifier.load(path, threads=1, batch_invariant=False)
        items = student.runtime_items()
        out[dtype] = {"logits": classifier.predict_logits(items), "predictions": classifier.predict(items)}
    return out


# -- npm ------------------------------------------------------------------------------------------------------------


def node_tools_missing() -> str | None:
    """Why the JS tests cannot run here, or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return (
        f"{' and '.join(missing)} not on PATH: the JavaScript checks need Node.js >= 18 with npm" if missing else None
    )


def _install_is_current() -> bool:
    marker = JS / "node_modules" / ".package-lock.json"  # npm writes it last, on every install
    return marker.is_file() and marker.stat().st_mtime >= (JS / "package-lock.json").stat().st_mtime


def ensure_js_installed(timeout: float = 600) -> float:
    """`npm ci` in js/ when js/node_modules is missing or older than the lockfile; seconds spent installing (0 when
    it was current). Two processes (pytest -n, two checkouts' runs) serialise on a lock in the temp folder."""
    if _install_is_current():
        return 0.0
    key = hashlib.sha256(str(JS).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"asdfd-js-npm-{key}.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if _install_is_current():  # another process installed it while this one waited
                return 0.0
            started = time.perf_counter()
            command = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
            result = subprocess.run(
                command, cwd=JS, env={**os.environ, **NPM_ENV}, capture_output=True, text=True, timeout=timeout
            )
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"`{' '.join(command)}` in {JS} failed: " + " | ".join(tail))
            return time.perf_counter() - started
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_node(cases: list[dict[str, Any]], workdir: Path, timeout: float = 120) -> dict[str, Any]:
    """tests/js/check.mjs on `cases`; its JSON output."""
    spec = workdir / "cases.json"
    spec.write_text(json.dumps(cases), encoding="utf-8")
    result = subprocess.run(
        ["node", str(CHECK_SCRIPT), str(spec)], capture_output=True, text=True, timeout=timeout, cwd=workdir
    )
    if result.returncode != 0:
        raise RuntimeError(f"node {CHECK_SCRIPT.name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- browser --------------------------------------------------------------------------------------------------------


_CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in containers; the pages are our own, from 127.0.0.1
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


class _Handler(SimpleHTTPRequestHandler):
    """GET: /page.html, /cases.json, /js/... (the repo's js/, node_modules included), /models/<name>/... (the
    students). POST /result: the page's answer, handed to the test. Nothing else is served."""

    models: dict[str, Path]
    page: Path
    isolated: bool
    cases: bytes
    answer: dict[str, Any]
    done: threading.Event

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if ".." not in parts:
            if parts == ["page.html"]:
                return str(self.page)
            if parts[:1] == ["js"]:
                return str(JS.joinpath(*parts[1:]))
            if parts[:1] == ["models"] and len(parts) > 2 and parts[1] in self.models:
                return str(self.models[parts[1]].joinpath(*parts[2:]))
        return str(Path(tempfile.gettempdir()) / "asdfd-js-no-such-file")

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if urlsplit(self.path).path == "/cases.json":
            self._send(200, self.cases, "application/json")
            return
        super().do_GET()

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if urlsplit(self.path).path != "/result":
            self._send(404, b"", "text/plain")
            return
        self.answer.update(json.loads(body))
        self._send(200, b"{}", "application/json")
        self.done.set()

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        if self.isolated:  # cross-origin isolation: SharedArrayBuffer, so onnxruntime-web may use wasm threads
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        pass


_Handler.extensions_map = {
    **SimpleHTTPRequestHandler.extensions_map,
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
}


@contextlib.contextmanager
def serve(
    models: dict[str, Path], cases: Any, *, page: Path = PAGE, isolated: bool = False
) -> Iterator[tuple[str, dict[str, Any], threading.Event]]:
    """An HTTP server on 127.0.0.1 (a port the OS chooses) for `page` (at /page.html), `cases` (/cases.json), js/
    and the `models` (/models/<name>/); stopped on leaving the block. `isolated`: cross-origin isolation headers."""
    answer: dict[str, Any] = {}
    done = threading.Event()
    handler = type(
        "Handler",
        (_Handler,),
        {
            "models": dict(models),
            "page": page,
            "isolated": isolated,
            "cases": json.dumps(cases).encode(),
            "answer": answer,
            "done": done,
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(REPO)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="js-page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answer, done
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def run_page(
    chromium: str,
    models: dict[str, Path],
    cases: Any,
    workdir: Path,
    timeout: float = 90,
    *,
    page: Path = PAGE,
    isolated: bool = False,
) -> dict[str, Any]:
    """Open `page` (tests/js/page.html) in headless Chromium; the answer it POSTs ({"ok", "results" | "error"})."""
    with serve(models, cases, page=page, isolated=isolated) as (base, answer, done):
        profile = workdir / "chromium-profile"
        command = [chromium, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"{base}/page.html"]
        log = (workdir / "chromium.log").open("w")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if not done.wait(timeout):
                log.flush()
                tail = (workdir / "chromium.log").read_text(errors="replace")[-1500:]
                raise TimeoutError(f"the page sent no result in {timeout:.0f} s; chromium's log ends: {tail}")
            return dict(answer)
        finally:
            _stop(process)
            log.close()


def _stop(process: subprocess.Popen) -> None:
    """End the Chromium this module started: its own process group (its renderer and utility processes)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


class DevTools:
    """Headless Chromium driven over its DevTools pipe (`--remote-debugging-pipe`: commands in on fd 3, answers out
    on fd 4, NUL-separated JSON), enough to open a page and evaluate expressions in it, as a user's typing would.
    A context manager: the browser (its own process group) ends on leaving the block."""

    def __init__(self, chromium: str, workdir: Path) -> None:
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        log = (workdir / "chromium.log").open("w")
        command = [chromium, *_CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={workdir / 'profile'}"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "chromium", *command],
            pass_fds=(to_browser, from_browser),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.session: str | None = None

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc: object) -> None:
        _stop(self.process)
        for fd in (self._in, self._out):
            with contextlib.suppress(OSError):
                os.close(fd)

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True, timeout: float = 30):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._in], [], [], left)[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {timeout:.0f} s")
                chunk = os.read(self._in, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"chromium closed its DevTools pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": url}, page=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, page=False)[
            "sessionId"
        ]

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
        result = self.call("Runtime.evaluate", params, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', result)}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll `expression` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(0.1)
        raise TimeoutError(f"{expression} still false after {timeout:.0f} s")
