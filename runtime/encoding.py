"""Text -> padded numpy batches with the `tokenizers` library (no torch, no transformers).

One `TextEncoder` is shared by every model the runtime or the benchmark runs, so the ONNX students
and the PyTorch teacher see exactly the same token ids.

Thread safety: a `tokenizers.Tokenizer` is a PyO3 object whose methods take a runtime borrow; two
threads that encode on the same instance while one of them (re)configures it fail with
"RuntimeError: Already borrowed" (huggingface/tokenizers#537). So no instance is ever shared: a
thread borrows an idle one from a small pool and gives it back; a new one (configured once, which is
slow for a BERT vocabulary) is built only when all are busy, so a thread-per-request web server does not
pay that on every request.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from tokenizers import Tokenizer

from asdfd.core.errors import DataError, ModelLoadError

__all__ = ["TextEncoder", "check_texts", "check_count", "logits_in_batches", "CHARS_PER_TOKEN"]

_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>")

CHARS_PER_TOKEN = 64
"""Characters of a text read per token it may keep: texts longer than `max_length` times this are cut (at a word
boundary) before tokenizing. A token covers far fewer characters (a word piece; a longer word is one unknown
token), so only text whose first `max_length` tokens span more (thousands of spaces in a row) loses tokens."""

MAX_BATCH_SIZE = 1 << 16
"""Largest batch_size accepted (a batch is padded to its longest text: larger batches only cost memory)."""


def check_count(name: str, value: object, *, most: int = MAX_BATCH_SIZE, error: type[Exception] = DataError) -> int:
    """`value` as a whole number in 1..`most`, or a one-line `error` naming `name`.

    Floats, strings and bools are refused rather than rounded (1.5 threads or batch_size=True is a mistake).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if not 1 <= value <= most:
        raise error(f"{name} must be between 1 and {most}, got {value}")
    return int(value)


def check_texts(texts: Sequence[str] | Sequence[tuple[str, str]], pairs: bool = False) -> list:
    """Return `texts` as a list, or raise a one-line `DataError` saying what is wrong with it.

    Args:
        pairs: the model classifies sentence pairs: every item must be a (text_a, text_b) tuple; otherwise every
            item must be a string.
    """
    what = "(text_a, text_b) pairs" if pairs else "texts"
    if isinstance(texts, (str, bytes)):
        raise DataError(f"expected a list of {what}, got a single string: wrap it in a list, e.g. predict([text])")
    if isinstance(texts, (dict, set, frozenset)) or not isinstance(texts, Iterable):
        # a dict would classify its keys, a set in no stable order
        raise DataError(f"expected a list of {what}, got {type(texts).__name__}: pass a list (or tuple)")
    items = list(texts)
    if not items:
        raise DataError(f"no {what} to classify: pass a non-empty list")
    for index, item in enumerate(items):
        is_pair = isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)
        if pairs and not is_pair:
            raise DataError(
                f"input #{index} is {type(item).__name__}, but this model classifies sentence pairs: pass "
                "(text_a, text_b) tuples"
            )
        if not pairs and not isinstance(item, str):
            hint = ": this model classifies single texts, not pairs" if is_pair else ": pass strings only"
            raise DataError(f"text #{index} is {type(item).__name__}, not str{hint}")
        for part in item if is_pair else (item,):
            try:
                part.encode("utf-8")
            except UnicodeEncodeError as err:  # a lone surrogate, e.g. from text decoded with errors="surrogateescape"
                raise DataError(
                    f"text #{index} is not valid Unicode ({err.reason} at character {err.start}): "
                    "decode your input as UTF-8 before classifying it"
                ) from None
        if is_pair:
            items[index] = (item[0], item[1])
    return items


class TextEncoder:
    """Tokenizes texts, truncates them to `max_length` tokens and pads each batch to its longest text.

    Args:
        tokenizer_json: the full content of a `tokenizers` tokenizer.json.
        max_length: texts are truncated to this many tokens (special tokens included).

    Example:
        >>> encoder = TextEncoder(Path("tokenizer.json").read_text(), max_length=128)
        >>> batch = encoder.encode(["a fine film", "dull"])   # {"input_ids": (2, T) int64, ...}
    """

    def __init__(self, tokenizer_json: str, max_length: int) -> None:
        if max_length < 2:
            raise ModelLoadError(f"max_length must be >= 2 tokens, got {max_length}")
        self.tokenizer_json = tokenizer_json
        self.max_length = int(max_length)
        self._idle: list[Tokenizer] = [self._new_tokenizer()]  # fail at load time, not at the first request
        self._lock = threading.Lock()
        tokenizer = self._idle[0]
        self.vocab_size = tokenizer.get_vocab_size()
        self.pad_id = next((i for t in _PAD_TOKENS if (i := tokenizer.token_to_id(t)) is not None), 0)

    def _new_tokenizer(self) -> Tokenizer:
        try:
            tokenizer = Tokenizer.from_str(self.tokenizer_json)
        except Exception as err:  # tokenizers raises plain Exception on malformed JSON
            raise ModelLoadError(f"the embedded tokenizer.json cannot be loaded: {err}") from None
        tokenizer.no_padding()  # we pad per batch ourselves, after an optional sort by length
        tokenizer.enable_truncation(self.max_length)
        return tokenizer

    @contextlib.contextmanager
    def _borrow(self) -> Iterator[Tokenizer]:
        """An instance no other thread is using for as long as the `with` block runs."""
        with self._lock:
            tokenizer = self._idle.pop() if self._idle else None
        if tokenizer is None:
            tokenizer = self._new_tokenizer()
        try:
            yield tokenizer
        finally:
            with self._lock:
                self._idle.append(tokenizer)

    def vocabulary(self) -> dict[str, int]:
        """Token -> id, special tokens included."""
        with self._borrow() as tokenizer:
            return tokenizer.get_vocab()

    def token_ids(self, texts: list) -> list[list[int]]:
        """Token ids per text (truncated, with special tokens), unpadded."""
        return [ids for ids, _ in self.encode_rows(texts)]

    def encode_rows(self, texts: list) -> list[tuple[list[int], list[int]]]:
        """(token ids, segment ids) per text or (text_a, text_b) pair, truncated, with the tokenizer's own special
        tokens and pair template ([CLS] a [SEP] b [SEP], segments 0 then 1; RoBERTa: <s> a </s></s> b </s>)."""
        texts = [self.clip(t) if isinstance(t, str) else (self.clip(t[0]), self.clip(t[1])) for t in texts]
        with self._borrow() as tokenizer:
            encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)  # _fast skips char offsets
            return [(encoding.ids, encoding.type_ids) for encoding in encode(texts)]

    def clip(self, text: str) -> str:
        """`text` cut at the last whitespace before `max_length * CHARS_PER_TOKEN` characters: what truncation
        would keep of it, without tokenizing all of a huge text first (a 50 MB line would take gigabytes)."""
        limit = self.max_length * CHARS_PER_TOKEN
        if len(text) <= limit:
            return text
        cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
        return text[: cut if cut > 0 else limit]

    def pad(self, ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None = None) -> dict[str, np.ndarray]:
        """Pad token id lists (and their segment ids; default 0) to the longest one.

        Returns:
            {"input_ids", "attention_mask", "token_type_ids"}: each (batch, max_len) int64.
        """
        length = max(len(row) for row in ids)
        input_ids = np.full((len(ids), length), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(ids), length), dtype=np.int64)
        token_type_ids = np.zeros((len(ids), length), dtype=np.int64)
        for row, token_ids in enumerate(ids):
            input_ids[row, : len(token_ids)] = token_ids
            attention_mask[row, : len(token_ids)] = 1
            if types is not None:
                token_type_ids[row, : len(token_ids)] = types[row]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}

    def batches(self, texts: list, batch_size: int, *, sort_by_length: bool = True):
        """Yield (indices, padded batch) covering `texts` (strings, or (text_a, text_b) pairs).

        Sorting by token length first means each batch pads to similar lengths, so less compute is
        spent on padding; the indices let the caller put results back in input order.
        """
        check_count("batch_size", batch_size)
        rows = self.encode_rows(texts)
        order = (
            np.argsort([len(ids) for ids, _ in rows], kind="stable")
            if sort_by_length and batch_size > 1
            else np.arange(len(rows))
        )
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            yield index, self.pad([rows[i][0] for i in index], [rows[i][1] for i in index])

    def synthetic_batch(self, batch_size: int, seq_len: int, seed: int = 0) -> dict[str, np.ndarray]:
        """A full (no padding) batch of random token ids for fixed-shape latency measurements.

        Returns:
            {"input_ids", "attention_mask", "token_type_ids"}: each (batch_size, seq_len) int64.
        """
        rng = np.random.default_rng(seed)
        low = min(1000, self.vocab_size // 2)  # skip the special tokens at the start of BERT vocabularies
        input_ids = rng.integers(low, self.vocab_size, size=(batch_size, seq_len), dtype=np.int64)
        return {
            "input_ids": input_ids,
            "attention_mask": np.ones_like(input_ids),
            "token_type_ids": np.zeros_like(input_ids),
        }


def logits_in_batches(
    encoder: TextEncoder,
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    texts: Sequence[str] | Sequence[tuple[str, str]],
    batch_size: int,
    num_labels: int,
    pairs: bool = False,
) -> np.ndarray:
    """Tokenize `texts`, run each length-sorted batch through `run`, return (len(texts), num_labels) float32 logits
    in input order: the one predict loop of the runtime and the benchmark's models.

    Raises:
        DataError: empty input, a non-string item, or batch_size < 1.
    """
    texts = check_texts(texts, pairs)
    logits = np.empty((len(texts), num_labels), dtype=np.float32)
    for index, batch in encoder.batches(texts, batch_size):
        logits[index] = run(batch)
    return logits
