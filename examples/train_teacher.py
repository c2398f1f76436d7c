"""Build a teacher to compress: fine-tune pretrained MiniLM-L6 (installed offline) on a labelled file.

    python examples/train_teacher.py                       # SST-2 files shipped in data/sst2
    python examples/train_teacher.py --train my.csv --eval my_dev.csv --text-column text --label-column y

The same recipe is `compress teacher --train FILE --eval FILE --out DIR`; `make demo` runs it once and caches
the result in artifacts/teacher-sst2.
"""

from __future__ import annotations

import argparse
import logging

from asdfd.compressor.finetune import TeacherRecipeConfig, train_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", default="data/sst2/train.tsv")
    parser.add_argument("--eval", default="data/sst2/dev.tsv")
    parser.add_argument("--out", default="artifacts/teacher-sst2")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--label-names", default="negative,positive", help="names of the sorted labels; '' keeps them")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    config = TeacherRecipeConfig(
        steps=args.steps,
        text_column=args.text_column,
        label_column=args.label_column,
        label_names=tuple(args.label_names.split(",")) if args.label_names else None,
    )
    summary = train_teacher(args.train, args.out, config, eval_file=args.eval, force=args.force)
    print(
        f"teacher in {args.out}: accuracy {summary.get('eval_accuracy', float('nan')):.4f} "
        f"after {config.steps} steps ({summary['seconds']:.0f} s)"
    )


if __name__ == "__main__":
    main()
