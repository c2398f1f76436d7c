"""Labelled text files (CSV/TSV) as used by the teacher recipe, `--eval-file` and the benchmark.

Pure Python (no torch), so the runtime's benchmark can use it too.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asdfd.core.errors import DataError

__all__ = [
    "LabelledTexts",
    "read_labelled_file",
    "label_ids",
    "tokenizer_columns",
    "is_pairs",
    "require_text_shape",
]


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str] | list[tuple[str, str]]
    """One text per row, or (text_a, text_b) pairs when two text columns were named ("sentence1,sentence2")."""
    labels: list[str] | None
    """Raw label strings as in the file (e.g. "0"/"1" or "negative"); None when the file has no label column."""


def read_labelled_file(
    path: str | Path,
    *,
    text_column: str = "sentence",
    label_column: str | None = "label",
    require_labels: bool = True,
) -> LabelledTexts:
    """Read texts (and labels) from a CSV or TSV file with a header row.

    `text_column` names one column, or two separated by a comma (sentence pairs: "sentence1,sentence2"), which
    gives (text_a, text_b) tuples. The delimiter is a tab for `.tsv` files and a comma otherwise. TSV is read
    without quoting, as GLUE distributes it.

    Raises:
        DataError: missing file, missing column, empty file or empty text.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file: pass a CSV/TSV file with a header row")
    if path.exists() and not path.is_file():  # a FIFO or a device would block or never end
        raise DataError(f"{path} is not a regular file: pass a CSV/TSV file with a header row")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist: pass a CSV/TSV file with a header row")
    try:
        return _read(path, text_column=text_column, label_column=label_column, require_labels=require_labels)
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}): save it as UTF-8") from None
    except csv.Error as err:  # e.g. a field over csv.field_size_limit()
        raise DataError(f"{path} is not a readable CSV/TSV file: {err}") from None


FIELD_LIMIT = 1 << 20
"""Largest text field read (1 MiB; the csv module's own default is 128 KiB). Longer texts are truncated by the
tokenizer anyway."""


def _read(path: Path, *, text_column: str, label_column: str | None, require_labels: bool) -> LabelledTexts:
    is_tsv = path.suffix.lower() in {".tsv", ".tab"}
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: a byte-order mark is not part of a header
        reader = csv.DictReader(
            handle, delimiter="\t" if is_tsv else ",", quoting=csv.QUOTE_NONE if is_tsv else csv.QUOTE_MINIMAL
        )
        columns = reader.fieldnames or []
        names = [name.strip() for name in text_column.split(",")]
        if len(names) > 2 or not all(names):
            raise DataError(f"--text-column {text_column!r}: name one column, or two for pairs (sentence1,sentence2)")
        for name in names:
            if name not in columns:
                raise DataError(f"{path} has no column {name!r} (columns: {columns}): pass --text-column")
        has_labels = label_column is not None and label_column in columns
        if require_labels and not has_labels:
            raise DataError(f"{path} has no column {label_column!r} (columns: {columns}): pass --label-column")
        texts: list = []
        labels: list[str] = []
        for line_number, row in enumerate(reader, start=2):
            fields = [(row.get(name) or "").strip() for name in names]
            for name, text in zip(names, fields):
                if not text:
                    raise DataError(f"{path}:{line_number}: empty text in column {name!r}")
            texts.append(fields[0] if len(fields) == 1 else (fields[0], fields[1]))
            if has_labels:
                label = (row.get(label_column) or "").strip()
                if not label:
                    raise DataError(f"{path}:{line_number}: empty label in column {label_column!r}")
                labels.append(label)
    if not texts:
        raise DataError(f"{path} has a header but no rows")
    return LabelledTexts(texts=texts, labels=labels if has_labels else None)


def label_ids(labels: Sequence[str], label_names: Sequence[str], source: str | Path) -> list[int]:
    """Map raw labels of a file to a model's class ids: by label name first, then as integer ids.

    Raises:
        DataError: a label that is neither one of `label_names` nor a valid id.
    """
    by_name = {str(name): index for index, name in enumerate(label_names)}
    ids = []
    for label in labels:
        if label in by_name:
            ids.append(by_name[label])
        elif label.lstrip("-").isdigit() and 0 <= int(label) < len(label_names):
            ids.append(int(label))
        else:
            raise DataError(
                f"{source}: label {label!r} is neither a label of the model ({list(label_names)}) "
                f"nor an id in 0..{len(label_names) - 1}"
            )
    return ids


def is_pairs(texts: Sequence) -> bool:
    """Whether `texts` holds (text_a, text_b) pairs rather than single texts."""
    return bool(texts) and isinstance(texts[0], tuple)


def require_text_shape(texts: Sequence, kind: str, text_column: str, source: str | Path) -> None:
    """A sentence-pair model (`kind` "pair") needs two text columns, a single-text one one column: else one line
    naming the flag (never a figure computed on the wrong shape).

    Raises:
        DataError: the columns named do not match the model's input shape.
    """
    if kind == "pair" and not is_pairs(texts):
        raise DataError(
            f"{source}: the model classifies sentence pairs but --text-column {text_column!r} names one column: "
            "name two text columns: --text-column sentence1,sentence2"
        )
    if kind == "single" and is_pairs(texts):
        raise DataError(
            f"{source}: the model classifies single texts but --text-column {text_column!r} names two columns: "
            "name one text column"
        )


def tokenizer_columns(texts: Sequence) -> tuple[list[str], ...]:
    """What a transformers tokenizer is called with for `texts`: (texts,), or (texts_a, texts_b) for pairs, so it
    applies its own pair template ([CLS] a [SEP] b [SEP] with segment ids)."""
    if is_pairs(texts):
        return [a for a, _ in texts], [b for _, b in texts]
    return (list(texts),)
