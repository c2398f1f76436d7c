"""Classify lines of stdin with an exported student; one output line per input line.

Run (needs only the runtime install, `pip install .` in a clone; no torch):

    printf 'a gripping, funny film\\na dull mess\\n' | python examples/classify_stdin.py --model student.onnx
    positive	0.9731	a gripping, funny film
    negative	0.9412	a dull mess

A multi-label model prints every label at or over --threshold (comma-separated, "-" for none) and the top
probability; a score model prints its score. `--json` prints one JSON object per line instead (label, score, all
scores, labels, text). Empty lines are
passed through as empty output lines, so output line N always belongs to input line N. For a sentence-pair
model (NLI, paraphrase) each line is `text_a<TAB>text_b`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator

from asdfd.core.errors import AsdfdError
from asdfd.runtime import Classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="student .onnx file or export folder")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32, help="lines classified per model call")
    parser.add_argument("--json", action="store_true", help="JSON lines output")
    parser.add_argument("--threshold", type=float, default=0.5, help="multi-label models: probability for a label")
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    try:
        classifier = Classifier.load(args.model, threads=args.threads, threshold=args.threshold)
    except AsdfdError as err:
        raise SystemExit(f"Error: {err}") from None

    lines = _decoded(sys.stdin.buffer)
    while chunk := list(itertools.islice(lines, args.batch_size)):  # streams: never reads all of stdin first
        texts = [_input(line, classifier.pairs) for line in chunk if line.strip()]
        try:
            predictions = iter(classifier.predict(texts, batch_size=args.batch_size) if texts else [])
        except AsdfdError as err:
            raise SystemExit(f"Error: {err}") from None
        for line in chunk:
            if not line.strip():
                print()
                continue
            p = next(predictions)
            if args.json:
                print(
                    json.dumps(
                        {"label": p.label, "score": p.score, "scores": p.scores, "labels": p.labels, "text": line}
                    )
                )
            elif classifier.head == "multi_label":
                print(f"{','.join(p.labels) or '-'}\t{p.score:.4f}\t{line}")
            else:
                print(f"{p.label}\t{p.score:.4f}\t{line}")
        sys.stdout.flush()


def _decoded(stream) -> Iterator[str]:
    """Lines of a binary stream as text without the newline; a line that is not UTF-8 is one line of error."""
    for number, raw in enumerate(stream, start=1):
        try:
            yield raw.decode("utf-8").rstrip("\n")
        except UnicodeDecodeError as err:
            raise SystemExit(
                f"Error: input line {number} is not UTF-8 (byte {err.start}): convert the input to UTF-8"
            ) from None


def _input(line: str, pairs: bool) -> str | tuple[str, str]:
    """The line, or for a pair model its two tab-separated texts (one line of error otherwise)."""
    if not pairs:
        return line
    if line.count("\t") != 1:
        raise SystemExit(
            f"Error: this model classifies sentence pairs: write text_a<TAB>text_b per line (exactly one TAB), "
            f"got {line.count(chr(9))} TABs in {line[:80]!r}"
        )
    first, _, second = line.partition("\t")
    return first, second


if __name__ == "__main__":
    main()
