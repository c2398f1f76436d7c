"""A JSON text-classification service on the standard library, using only the asdfd runtime.

Run (needs only the runtime install, `pip install .` in a clone: onnxruntime, numpy, tokenizers; no torch):

    python examples/serve_http.py --model student.onnx --port 8000 --threads 2

Then:

    curl -s localhost:8000/classify -d '{"texts": ["a gripping, funny film", "a dull mess"]}'
    {"predictions": [{"label": "positive", "score": 0.97, "scores": {"negative": 0.03, "positive": 0.97}}, ...]}

A sentence-pair model (NLI, paraphrase) takes `{"pairs": [["text a", "text b"], ...]}` instead. A multi-label model's
predictions also carry "labels" (every label at or over --threshold, most probable first; `scores` are per-label
sigmoid probabilities); a score model's "score" is its output (no probabilities).

    curl -s localhost:8000/health   # {"status": "ok", "model": "student.onnx", "labels": [...], "max_length": 128}

Guarantees:
- Every answer is JSON; every refused request gets a 4xx with {"error": "<what is wrong>"}: 400 malformed
  request, body or Content-Length (JSON that is not UTF-8, nested too deeply, not {"texts": [1..--max-texts
  strings]}, a text that is not valid Unicode), 404 unknown path, 405 wrong method (with Allow), 408 body not
  received in time, 411 POST without Content-Length, 413 body over --max-body-bytes, 501 Transfer-Encoding.
  A model failure is a 500 {"error": ...}; its traceback goes to the server log only.
- Memory and time per request are bounded: a body is read only after its Content-Length has been checked and
  never beyond it; the whole request must arrive within --timeout seconds (a stalled or trickling client gets
  a 408 or is disconnected, and its thread ends); at most --max-connections are served at once (more get 503).
- SIGTERM or SIGINT stops accepting connections, lets the requests in flight finish, then exits 0
  (a second signal exits at once).
- One request per connection (HTTP/1.0), one structured access-log line per request on stderr.
One `Classifier` serves every request thread: its `predict` is thread-safe.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from asdfd.core.errors import AsdfdError, DataError
from asdfd.runtime import Classifier

MAX_BODY_BYTES = 1 << 20
MAX_TEXTS = 256
TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64
LINGER_S = 1.0  # after an early error answer, how long the unread body is drained so the answer is not reset
ROUTES = {"/classify": "POST", "/health": "GET"}
LONE_SURROGATE = re.compile("[\ud800-\udfff]")

logger = logging.getLogger("serve_http")


class RequestError(Exception):
    """A request refused with `status` and {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class DeadlineReader(io.RawIOBase):
    """A connection's input that fails with TimeoutError once the request's time is up (trickles included)."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        self.sock, self.deadline = sock, time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request not received in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class Handler(BaseHTTPRequestHandler):
    server_version = "asdfd-serve/2"
    default_request_version = "HTTP/1.0"  # answers to unparsable request lines get a status line too
    server: ClassifyServer

    def setup(self) -> None:
        self.timeout = self.server.request_timeout  # StreamRequestHandler sets it on the socket
        super().setup()
        self.rfile.close()  # replaced: the whole request (line, headers, body) shares one deadline
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, self.timeout))

    def handle_one_request(self) -> None:
        self.started, self.body_pending = time.monotonic(), False
        super().handle_one_request()  # a stall before the body is read: logged, connection closed

    def dispatch(self) -> None:
        self.close_connection = True
        self.body_pending = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        try:
            (status, payload), headers = self.route(), {}
        except RequestError as err:
            status, payload, headers = err.status, {"error": err.message}, err.headers
        except ConnectionError:
            return  # the client went away: nobody to answer
        except Exception:
            logger.exception("request failed: method=%s path=%s", self.command, json.dumps(self.path[:200]))
            status, payload, headers = 500, {"error": "internal server error (details are in the server log)"}, {}
        self.send_json(status, payload, headers)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = dispatch  # noqa: N815

    def route(self) -> tuple[int, dict]:
        path = urlsplit(self.path).path
        if path not in ROUTES:
            raise RequestError(404, f"no such path {path[:100]!r}: use POST /classify or GET /health")
        if self.command != ROUTES[path]:
            raise RequestError(405, f"{path} takes {ROUTES[path]}, not {self.command}", {"Allow": ROUTES[path]})
        if path == "/health":
            server = self.server
            return 200, {
                "status": "ok",
                "model": server.model_name,
                "labels": list(server.classifier.labels),
                "max_length": server.classifier.max_length,
            }
        texts = self.read_texts()
        try:
            predictions = self.server.classifier.predict(texts, batch_size=self.server.batch_size)
        except DataError as err:
            raise RequestError(400, str(err)) from None
        return 200, {
            "predictions": [
                {
                    "label": p.label,
                    "score": round(p.score, 6),
                    "scores": {k: round(v, 6) for k, v in p.scores.items()},
                    **({"labels": list(p.labels)} if self.server.classifier.head == "multi_label" else {}),
                }
                for p in predictions
            ]
        }

    def content_length(self) -> int:
        """The checked Content-Length, before a byte of the body is read."""
        if "Transfer-Encoding" in self.headers:
            raise RequestError(501, "Transfer-Encoding (chunked) is not supported: send a Content-Length")
        values = {value.strip() for value in self.headers.get_all("Content-Length", [])}
        if not values:
            raise RequestError(411, "Content-Length required")
        value = values.pop()
        if values or not re.fullmatch(r"[0-9]+", value):
            raise RequestError(400, f"malformed Content-Length {value[:40]!r}: expected one integer >= 0")
        limit = self.server.max_body_bytes
        if len(value.lstrip("0")) > 18 or int(value) > limit:
            raise RequestError(413, f"request body over {limit} bytes")
        return int(value)

    def read_texts(self) -> list:
        length = self.content_length()
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            raise RequestError(408, f"request not received within {self.timeout:g} s") from None
        self.body_pending = False
        if len(body) < length:
            raise RequestError(400, f"request body ended after {len(body)} of {length} bytes (Content-Length)")
        try:
            request = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise RequestError(400, f"request body is not valid UTF-8 (byte {err.start})") from None
        except RecursionError:
            raise RequestError(400, "request body is JSON nested too deeply") from None
        except ValueError as err:  # json.JSONDecodeError, and integers too long to convert
            raise RequestError(400, f"request body is not valid JSON: {err}") from None
        pairs = self.server.classifier.pairs
        key, other = ("pairs", "texts") if pairs else ("texts", "pairs")
        shape = '{"pairs": [["text a", "text b"], ...]}' if pairs else '{"texts": ["...", ...]}'
        items = "[text_a, text_b] pairs" if pairs else "strings"
        if isinstance(request, dict) and other in request and key not in request:
            kind = "sentence pairs" if pairs else "single texts"
            raise RequestError(400, f"this model classifies {kind}: send {shape}")
        texts = request.get(key) if isinstance(request, dict) else None
        if not isinstance(texts, list):
            raise RequestError(400, f'expected a JSON object {shape} with "{key}" a list of {items}')
        if not texts:
            raise RequestError(400, f'no texts to classify: "{key}" must be a non-empty list of {items}')
        if len(texts) > self.server.max_texts:
            raise RequestError(400, f"at most {self.server.max_texts} texts per request, got {len(texts)}")
        for index, item in enumerate(texts):
            if pairs and not (isinstance(item, list) and len(item) == 2):
                raise RequestError(400, f"pair #{index} is not a list of two strings [text_a, text_b]")
            for text in item if pairs else [item]:
                if not isinstance(text, str):
                    raise RequestError(400, f"text #{index} is {type(text).__name__}, not a string")
                if match := LONE_SURROGATE.search(text):
                    raise RequestError(
                        400,
                        f"text #{index} is not valid Unicode: lone surrogate "
                        f"{match.group()!r} at character {match.start()}",
                    )
        return [tuple(item) for item in texts] if pairs else texts

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, headers too long, unknown method) as JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode("utf-8")
        try:
            self.connection.settimeout(self.timeout)  # the reads left a shorter one
            self.send_response(status)
            for name, value in {
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Connection": "close",
                **(headers or {}),
            }.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away or stopped reading
        logger.info(
            "access client=%s method=%s path=%s status=%d bytes=%d ms=%.1f",
            self.client_address[0],
            self.command or "-",
            json.dumps(getattr(self, "path", "")[:200]),
            status,
            len(body),
            1000 * (time.monotonic() - self.started),
        )

    def finish(self) -> None:
        super().finish()
        if self.body_pending:  # answered before the whole body was read: closing now would reset the
            try:  # connection and could destroy the answer; send FIN, then discard the input for a moment
                self.connection.shutdown(socket.SHUT_WR)
                deadline, drained = time.monotonic() + LINGER_S, 0
                while drained < self.server.max_body_bytes and (left := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(left)
                    if not (chunk := self.connection.recv(65536)):
                        break
                    drained += len(chunk)
            except OSError:
                pass

    def log_request(self, code="-", size="-") -> None:
        pass  # send_json writes the access log

    def log_message(self, format: str, *args) -> None:
        logger.warning("client=%s %s", self.client_address[0], json.dumps(format % args))


class ClassifyServer(ThreadingHTTPServer):
    """Handler threads are not daemons: server_close() waits for the requests in flight."""

    daemon_threads = False
    request_queue_size = 1024
    """The listen backlog (socketserver's default is 5): a burst of connections waits to be answered (503 beyond
    --max-connections) instead of being reset by the kernel."""

    def __init__(
        self,
        address: tuple[str, int],
        classifier: Classifier,
        *,
        model_name: str,
        batch_size: int,
        timeout: float,
        max_body_bytes: int,
        max_texts: int,
        max_connections: int,
    ) -> None:
        self.classifier, self.model_name, self.batch_size = classifier, model_name, batch_size
        self.request_timeout, self.max_body_bytes, self.max_texts = timeout, max_body_bytes, max_texts
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, Handler)

    def process_request(self, request: socket.socket, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            body = b'{"error": "server busy: too many connections, retry shortly"}'
            try:
                request.setblocking(False)
                request.send(
                    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1"
                    b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
            except OSError:
                pass
            logger.warning("busy client=%s status=503", client_address[0])
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        logger.exception("error serving client=%s", client_address[0])


def make_server(
    model: str | Path | Classifier,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int | None = None,
    batch_size: int = 32,
    timeout: float = TIMEOUT_S,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_texts: int = MAX_TEXTS,
    max_connections: int = MAX_CONNECTIONS,
    threshold: float = 0.5,
) -> ClassifyServer:
    """A bound, not yet serving server for a model path (or a loaded `Classifier`); port 0 picks a free port.

    Raises:
        AsdfdError: the model cannot be loaded. OSError: the address cannot be bound.
    """
    if isinstance(model, Classifier):
        classifier, name = model, Path(model.info.onnx_path).name
    else:
        classifier, name = Classifier.load(model, threads=threads, threshold=threshold), Path(model).name
    return ClassifyServer(
        (host, port),
        classifier,
        model_name=name,
        batch_size=batch_size,
        timeout=timeout,
        max_body_bytes=max_body_bytes,
        max_texts=max_texts,
        max_connections=max_connections,
    )


def positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="student .onnx file or export folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (logged)")
    parser.add_argument("--threads", type=positive(int), default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=positive(int), default=32)
    parser.add_argument(
        "--timeout",
        type=positive(float),
        default=TIMEOUT_S,
        help="seconds for a request to arrive in full, and per response write",
    )
    parser.add_argument("--max-body-bytes", type=positive(int), default=MAX_BODY_BYTES)
    parser.add_argument("--max-texts", type=positive(int), default=MAX_TEXTS, help="texts per request")
    parser.add_argument("--max-connections", type=positive(int), default=MAX_CONNECTIONS)
    parser.add_argument("--threshold", type=float, default=0.5, help="multi-label models: probability for a label")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = make_server(
            args.model,
            args.host,
            args.port,
            threads=args.threads,
            batch_size=args.batch_size,
            timeout=args.timeout,
            max_body_bytes=args.max_body_bytes,
            max_texts=args.max_texts,
            max_connections=args.max_connections,
            threshold=args.threshold,
        )
    except AsdfdError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"Error: cannot listen on {args.host}:{args.port}: {err.strerror or err}", file=sys.stderr)
        return 1

    def stop(signum: int, frame) -> None:
        logger.info("%s: finishing the requests in flight, then exiting", signal.Signals(signum).name)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second signal exits at once
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        threading.Thread(target=server.shutdown).start()  # shutdown() from the serving thread would deadlock

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    logger.info("serving %s on http://%s:%d (POST /classify, GET /health)", args.model, host, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()  # closes the listening socket, then waits for the handler threads
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
