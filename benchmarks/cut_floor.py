"""The floor of a distillation: the cut student before any training, scored on a labelled file.

    python benchmarks/cut_floor.py --teacher artifacts/teacher-mrpc --eval-file $DATA/mrpc/test.tsv \\
        --text-column sentence1,sentence2      # research harness: $DATA as in docs/data.md

"Gap recovered" = (student - floor) / (teacher - floor) reads a distilled student against this. The student is cut
as `compress run --budget fast` cuts it (or as --layers / --ffn say); every head (single-label, multi-label, score)
and sentence pairs are scored with the figures distill.json reports (`eval_*`, `teacher_eval_*`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

from asdfd.compressor import DistillConfig
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import eval_label_ids, eval_metrics, evaluate_texts
from asdfd.compressor.frozen_teacher import load_teacher
from asdfd.compressor.student import build_student
from asdfd.core.data import read_labelled_file
from asdfd.core.heads import head_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--eval-file", required=True)
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--layers", default=None, help="teacher layers to keep, e.g. 0,5 (default: the fast budget's)")
    parser.add_argument(
        "--ffn", type=float, default=None, help="share of FFN neurons kept (default: the fast budget's)"
    )
    args = parser.parse_args()
    student_config = DistillConfig.for_budget("fast").student
    if args.layers:
        student_config = dataclasses.replace(student_config, layers=tuple(int(x) for x in args.layers.split(",")))
    if args.ffn is not None:
        student_config = dataclasses.replace(student_config, ffn_fraction=args.ffn)
    teacher = load_teacher(args.teacher)
    student, layers = build_student(teacher, student_config)
    config = teacher.model.config.to_dict()
    data = read_labelled_file(args.eval_file, text_column=args.text_column, label_column=args.label_column)
    labels = np.asarray(eval_label_ids(data.labels, config["id2label"], args.eval_file, head_of(config)))
    placement = Placement(device=torch.device("cpu"), precision="fp32")
    logits = [
        evaluate_texts(m, teacher.tokenizer, data.texts, placement).double().numpy() for m in (student, teacher.model)
    ]
    print(json.dumps({"layers": layers, "rows": len(data.texts), **eval_metrics(head_of(config), *logits, labels)}))


if __name__ == "__main__":
    main()
