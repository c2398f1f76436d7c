"""A JSON text-classification service on the standard library, using only the asdfd runtime.

Run (needs only `pip install asdfd`: onnxruntime, numpy, tokenizers; no torch):

    python examples/serve_http.py --model student.onnx --port 8000 --threads 2

Then:

    curl -s localhost:8000/classify -d '{"texts": ["a gripping, funny film", "a dull mess"]}'
    {"predictions": [{"label": "positive", "score": 0.97, "scores": {"negative": 0.03, "positive": 0.97}}, ...]}

    curl -s localhost:8000/health          # {"status": "ok", "labels": [...], "max_length": 128}

One `Classifier` serves every request thread: its `predict` is thread-safe. Bad requests get HTTP 400
with {"error": "..."}; nothing else is exposed.
"""

from __future__ import annotations

import argparse
import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asdfd.errors import AsdfdError, DataError
from asdfd.runtime import Classifier

MAX_BODY_BYTES = 1_000_000
MAX_TEXTS = 256

logger = logging.getLogger("serve_http")


def make_handler(classifier: Classifier, batch_size: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "asdfd-serve/1"

        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/health":
                self._send(200, {"status": "ok", "labels": list(classifier.labels),
                                 "max_length": classifier.max_length})
            else:
                self._send(404, {"error": "use POST /classify or GET /health"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/classify":
                self._send(404, {"error": "use POST /classify"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    raise DataError(f"request body over {MAX_BODY_BYTES} bytes")
                request = json.loads(self.rfile.read(length) or b"null")
                texts = request.get("texts") if isinstance(request, dict) else None
                if texts is None:
                    raise DataError('expected a JSON object {"texts": ["...", ...]}')
                if isinstance(texts, list) and len(texts) > MAX_TEXTS:
                    raise DataError(f"at most {MAX_TEXTS} texts per request, got {len(texts)}")
                predictions = classifier.predict(texts, batch_size=batch_size)
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError, AsdfdError) as err:
                self._send(400, {"error": str(err)})
                return
            self._send(200, {"predictions": [
                {"label": p.label, "score": round(p.score, 6), "scores": {k: round(v, 6) for k, v in p.scores.items()}}
                for p in predictions]})

        def log_message(self, format: str, *args) -> None:  # route access logs through logging
            logger.info("%s %s", self.address_string(), format % args)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="student .onnx file or export folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        classifier = Classifier.load(args.model, threads=args.threads)
    except AsdfdError as err:
        raise SystemExit(f"Error: {err}") from None
    server = ThreadingHTTPServer((args.host, args.port), make_handler(classifier, args.batch_size))
    logger.info("serving %s on http://%s:%d (POST /classify, GET /health)", args.model, args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
