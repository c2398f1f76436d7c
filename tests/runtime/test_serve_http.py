"""examples/serve_http.py: bounded, every bad request answered with a 4xx JSON error, graceful on SIGTERM.

Servers bind 127.0.0.1 port 0 only; probes are raw sockets, so malformed requests reach the server as sent.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from asdfd.runtime import Classifier

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 1.0  # the test servers' --timeout


@pytest.fixture(scope="module")
def serve_http():
    spec = importlib.util.spec_from_file_location("serve_http", EXAMPLES / "serve_http.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def classifier(tiny_teacher_onnx) -> Classifier:
    return Classifier.load(tiny_teacher_onnx)


@contextmanager
def running(serve_http, classifier, **options):
    """A server on 127.0.0.1:0 in a thread; on exit, every handler thread must have ended within 5 s."""
    server = serve_http.make_server(classifier, "127.0.0.1", 0, batch_size=8, timeout=TIMEOUT, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        closer = threading.Thread(target=server.server_close, daemon=True)  # joins the handler threads
        closer.start()
        closer.join(5)
        assert not closer.is_alive(), "a handler thread is still running"


@pytest.fixture(scope="module")
def server(serve_http, classifier):
    with running(serve_http, classifier, max_texts=4, max_body_bytes=200_000) as server:
        yield server


@pytest.fixture
def port(server) -> int:
    return server.server_address[1]


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read to EOF: (status, headers with lower-case names, body)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        status, headers, body = read_answer(sock)
    assert headers["content-type"] == "application/json"
    return status, headers, json.loads(body)


def request(method: str, path: str, headers: str = "", body: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n{headers}\r\n".encode("latin-1") + body


def classify(port: int, body: bytes) -> tuple[int, dict]:
    status, _, payload = exchange(port, request("POST", "/classify", f"Content-Length: {len(body)}\r\n", body))
    return status, payload


def test_classifies_like_the_runtime_and_reports_health(port, classifier, caplog):
    expected = classifier.predict(["good movie", "bad plot"])
    with caplog.at_level(logging.INFO, logger="serve_http"):
        status, payload = classify(port, json.dumps({"texts": ["good movie", "bad plot"]}).encode())
    assert status == 200
    assert [p["label"] for p in payload["predictions"]] == [p.label for p in expected]
    assert payload["predictions"][0]["score"] == pytest.approx(expected[0].score, abs=1e-5)
    assert set(payload["predictions"][1]["scores"]) == {"negative", "positive"}
    assert any(
        re.search(
            r'access client=127\.0\.0\.1 method=POST path="/classify" status=200 bytes=\d+ ms=', record.getMessage()
        )
        for record in caplog.records
    )
    for path in ("/health", "/health?probe=1"):
        status, _, payload = exchange(port, request("GET", path))
        assert status == 200
        assert payload == {
            "status": "ok",
            "model": "teacher.onnx",
            "labels": ["negative", "positive"],
            "max_length": classifier.max_length,
        }


@pytest.mark.parametrize(
    "headers, body, status, message",
    [
        ("Content-Length: -1\r\n", b'{"texts": ["x"]}' * 100, 400, "malformed Content-Length '-1'"),
        ("Content-Length: 12abc\r\n", b"{}", 400, "malformed Content-Length"),
        ("Content-Length: 1_0\r\n", b"{}", 400, "malformed Content-Length"),
        ("Content-Length: +2\r\n", b"{}", 400, "malformed Content-Length"),
        ("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}", 400, "malformed Content-Length"),
        ("Content-Length: 1000000000000\r\n", b"", 413, "request body over 200000 bytes"),
        ("Content-Length: 200001\r\n", b'{"texts": [', 413, "request body over 200000 bytes"),
        (f"Content-Length: {'9' * 5000}\r\n", b"", 413, "request body over"),
        ("", b"", 411, "Content-Length required"),
        ("Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n", 501, "Transfer-Encoding"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", b"{}", 501, "Transfer-Encoding"),
    ],
    ids=[
        "negative",
        "trailing-garbage",
        "underscore",
        "plus-sign",
        "conflicting",
        "huge",
        "one-over",
        "5000-digits",
        "missing",
        "chunked",
        "chunked-and-length",
    ],
)
def test_content_length_is_checked_before_any_body_is_read(port, headers, body, status, message):
    # The server would wait TIMEOUT for the (absent) body and answer 408 if it tried to read it.
    started = time.monotonic()
    answer_status, answer_headers, payload = exchange(port, request("POST", "/classify", headers, body))
    assert (answer_status, answer_headers["connection"]) == (status, "close")
    assert message in payload["error"]
    assert time.monotonic() - started < TIMEOUT


def test_stalled_body_gets_408_within_the_timeout_while_others_are_served(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as stalled:
        started = time.monotonic()
        stalled.sendall(request("POST", "/classify", "Content-Length: 100\r\n", b'{"texts": '))
        assert exchange(port, request("GET", "/health"))[0] == 200  # served while the other one waits
        status, _, body = read_answer(stalled)
        elapsed = time.monotonic() - started
    assert status == 408 and "not received within 1 s" in json.loads(body)["error"]
    assert TIMEOUT * 0.9 < elapsed < TIMEOUT + 2


def test_trickling_client_is_cut_off_at_the_deadline(port):
    """The timeout bounds the whole request, not each read: one byte every 0.2 s does not keep it open."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request("POST", "/classify", "Content-Length: 1000\r\n"))
        while not select.select([sock], [], [], 0.2)[0] and time.monotonic() - started < TIMEOUT + 3:
            sock.sendall(b" ")
        status, _, body = read_answer(sock)
    assert status == 408 and "error" in json.loads(body)
    assert time.monotonic() - started < TIMEOUT + 2


def test_stalled_headers_are_disconnected(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /classify HTTP/1.1\r\nContent-Le")
        assert sock.recv(65536) == b""  # closed without an answer: the request never arrived
    assert time.monotonic() - started < TIMEOUT + 2


@pytest.mark.parametrize(
    "body, message",
    [
        (
            b'{"texts": ["fine", "\\ud800 lone"]}',
            "text #1 is not valid Unicode: lone surrogate '\\ud800' at character 0",
        ),
        (b'{"texts": ["\\udc00"]}', "text #0 is not valid Unicode"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"texts": ' + b"[" * 100_000, "nested too deeply"),
        (b"{not json", "not valid JSON: Expecting property name"),
        (b"", "not valid JSON"),
        (b'{"texts": [1' + b"0" * 5000 + b"]}", "not valid JSON"),
        (b'\xff{"texts": ["x"]}', "not valid UTF-8 (byte 0)"),
        (b'{"texts": ["\xed\xa0\x80"]}', "not valid UTF-8"),  # a surrogate encoded as UTF-8 bytes
        (b'["ok"]', "expected a JSON object"),
        (b'"good movie"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"text": ["ok"]}', "expected a JSON object"),
        (b'{"texts": "good movie"}', '"texts" a list of strings'),
        (b'{"texts": {"a": "b"}}', '"texts" a list of strings'),
        (b'{"texts": []}', "no texts"),
        (b'{"texts": ["ok", 1]}', "text #1 is int, not a string"),
        (b'{"texts": [null]}', "text #0 is NoneType"),
        (b'{"texts": [["nested"]]}', "text #0 is list"),
        (b'{"texts": ["a", "b", "c", "d", "e"]}', "at most 4 texts per request, got 5"),
    ],
    ids=[
        "lone-high-surrogate",
        "lone-low-surrogate",
        "deep-array",
        "deep-texts",
        "not-json",
        "empty",
        "huge-int",
        "not-utf8",
        "utf8-surrogate",
        "list",
        "string",
        "null",
        "no-texts-key",
        "texts-string",
        "texts-object",
        "texts-empty",
        "texts-int",
        "texts-null",
        "texts-list",
        "too-many-texts",
    ],
)
def test_bad_bodies_get_400_naming_the_problem_and_never_reach_the_model(port, server, monkeypatch, body, message):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the model was called")

    monkeypatch.setattr(server.classifier, "predict", must_not_run)
    status, payload = classify(port, body)
    assert status == 400 and message in payload["error"]


@pytest.mark.parametrize(
    "raw, status, allow, message",
    [
        (request("GET", "/nope"), 404, None, "no such path '/nope'"),
        (request("POST", "/", "Content-Length: 2\r\n", b"{}"), 404, None, "use POST /classify or GET /health"),
        (request("GET", "/classify"), 405, "POST", "/classify takes POST, not GET"),
        (request("POST", "/health", "Content-Length: 0\r\n"), 405, "GET", "/health takes GET, not POST"),
        (request("DELETE", "/classify"), 405, "POST", "not DELETE"),
        (request("BREW", "/health"), 501, None, "Unsupported method"),
        (b"GARBAGE\r\n\r\n", 400, None, "Bad request"),
        (b"GET /health HTTP/9.9\r\n\r\n", 505, None, "Invalid HTTP version"),
    ],
    ids=["unknown-path", "root", "get-classify", "post-health", "delete", "unknown-method", "garbage", "bad-version"],
)
def test_unknown_paths_and_methods_get_json_errors(port, raw, status, allow, message):
    answer_status, headers, payload = exchange(port, raw)
    assert answer_status == status and message in payload["error"]
    assert headers.get("allow") == allow


def test_model_failure_is_a_500_without_details_and_logged(port, server, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("onnxruntime exploded at /secret/path")

    monkeypatch.setattr(server.classifier, "predict", broken)
    status, payload = classify(port, b'{"texts": ["good movie"]}')
    assert status == 500 and "error" in payload and "secret" not in json.dumps(payload)
    assert any(record.exc_info and "exploded" in str(record.exc_info[1]) for record in caplog.records)
    monkeypatch.undo()
    assert classify(port, b'{"texts": ["good movie"]}')[0] == 200


def test_connections_over_the_limit_get_503(serve_http, classifier):
    with running(serve_http, classifier, max_connections=1) as server:
        port = server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # holds the only slot, sends nothing
            with socket.create_connection(("127.0.0.1", port), timeout=5) as refused:
                status, headers, body = read_answer(refused)
            assert status == 503 and "busy" in json.loads(body)["error"] and headers["retry-after"] == "1"
        deadline = time.monotonic() + 3  # the slot is free once the first handler has seen the close
        while (status := exchange(port, request("GET", "/health"))[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200


def start_subprocess(model: Path) -> tuple[subprocess.Popen, int]:
    """`python examples/serve_http.py` on 127.0.0.1:0; the port comes from its 'serving' log line."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLES / "serve_http.py"),
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--timeout",
            "5",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))[0]:
        line = proc.stderr.readline()
        if match := re.search(r"serving .* on http://127\.0\.0\.1:(\d+)", line):
            return proc, int(match.group(1))
        if not line:
            break
    proc.kill()
    raise AssertionError(f"the server did not start: {proc.communicate()[1]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_finishes_the_request_in_flight_and_exits_0(tiny_teacher_onnx, signum):
    proc, port = start_subprocess(tiny_teacher_onnx)
    try:
        body = b'{"texts": ["good movie"]}'
        with socket.create_connection(("127.0.0.1", port), timeout=10) as in_flight:
            in_flight.sendall(request("POST", "/classify", f"Content-Length: {len(body)}\r\n", body[:10]))
            assert exchange(port, request("GET", "/health"))[0] == 200  # so the first one has been accepted
            proc.send_signal(signum)
            time.sleep(0.2)  # the request is still in flight when the server starts shutting down
            in_flight.sendall(body[10:])
            status, _, answer = read_answer(in_flight)
        assert status == 200 and json.loads(answer)["predictions"][0]["label"] in ("negative", "positive")
        assert proc.wait(timeout=10) == 0
        stderr = proc.communicate(timeout=5)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert f"{signum.name}: finishing the requests in flight" in stderr and "Traceback" not in stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_a_burst_of_300_simultaneous_connections_is_answered_not_reset(serve_http, classifier):
    """Every connection of a burst gets an HTTP answer (200, or 503 past --max-connections); none is reset."""
    with running(serve_http, classifier, max_connections=8) as server:
        port = server.server_address[1]
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(300)]
        statuses, failures = [], []
        try:
            for sock in sockets:
                try:
                    sock.sendall(request("GET", "/health"))
                except OSError as err:  # already answered 503 and closed: reading still gives the answer
                    failures.append(f"send: {err}")
            for sock in sockets:
                try:
                    statuses.append(read_answer(sock)[0])
                except (OSError, ValueError, IndexError) as err:
                    failures.append(repr(err))
        finally:
            for sock in sockets:
                sock.close()
    assert not [f for f in failures if not f.startswith("send")], failures[:5]
    assert len(statuses) == 300 and set(statuses) <= {200, 503} and 200 in statuses
