"""A third single-text teacher's data: GoEmotions folded into its authors' sentiment groups (4 classes).

    python benchmarks/goemotions_sentiment.py --data $DATA/goemotions --out artifacts/data-goemo-sentiment
    compress teacher --train artifacts/data-goemo-sentiment/train.tsv --eval artifacts/data-goemo-sentiment/dev.tsv \\
        --text-column text --steps 800 --lr 1e-4 --threads 2 --out artifacts/teacher-goemo-sentiment

Research harness for the data-free estimate's leave-one-teacher-out check (docs/distill_results.md): Reddit
comments, not reviews or tweets, and 4 classes where SST-2 has 2 and emotion 6. The grouping is the one Demszky et al.
(2020) publish with the data (positive, negative, ambiguous, neutral); a row is kept when all its labels fall in one
group (multi-label rows spanning groups are dropped), so every kept row has one label. Writes `text<TAB>label` files.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

GROUPS = {
    "positive": (
        "amusement excitement joy love desire optimism caring pride admiration gratitude relief approval"
    ).split(),
    "negative": (
        "fear nervousness remorse embarrassment disappointment sadness grief disgust anger annoyance disapproval"
    ).split(),
    "ambiguous": "realization surprise curiosity confusion".split(),
    "neutral": ["neutral"],
}
GROUP_OF = {label: group for group, labels in GROUPS.items() for label in labels}


def fold(labels: str) -> str | None:
    """The one sentiment group of a row's comma-separated labels, or None when they span groups."""
    groups = {GROUP_OF[name] for name in labels.split(",") if name}
    return groups.pop() if len(groups) == 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the goemotions folder (train/dev/test.tsv)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        with open(args.data / f"{split}.tsv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        kept = [(row["text"], fold(row["labels"])) for row in rows]
        kept = [(text, group) for text, group in kept if group is not None]
        with open(args.out / f"{split}.tsv", "w", encoding="utf-8", newline="") as f:
            f.write("text\tlabel\n")
            f.writelines(f"{text}\t{group}\n" for text, group in kept)
        counts = {g: sum(1 for _, k in kept if k == g) for g in GROUPS}
        print(f"{split}: {len(kept)} of {len(rows)} rows; {counts}")


if __name__ == "__main__":
    main()
