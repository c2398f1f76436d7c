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

from asdfd.compressor import DistillConfig, StudentConfig
from asdfd.compressor.devices import Placement
from asdfd.compressor.diagnostics import eval_label_ids, eval_metrics, evaluate_texts
from asdfd.compressor.frozen_teacher import Teacher, load_teacher
from asdfd.compressor.student import build_student
from asdfd.core.data import read_labelled_file
from asdfd.core.heads import head_of


def floor_metrics(
    teacher: Teacher,
    student_config: StudentConfig,
    texts: list,
    labels: np.ndarray,
    *,
    layers: list[int] | None = None,
    teacher_logits: np.ndarray | None = None,
) -> dict:
    """The cut student's figures on labelled `texts` (`layers`: these teacher layers; none = as `student_config`
    says), as distill.json reports them; `teacher_logits` saves the teacher's pass when scoring many cuts."""
    student, layers = build_student(teacher, student_config, layers=layers)
    config = teacher.model.config.to_dict()
    placement = Placement(device=torch.device("cpu"), precision="fp32")
    student_logits = evaluate_texts(student, teacher.tokenizer, texts, placement).double().numpy()
    if teacher_logits is None:
        teacher_logits = evaluate_texts(teacher.model, teacher.tokenizer, texts, placement).double().numpy()
    return {
        "layers": layers,
        "rows": len(texts),
        **eval_metrics(head_of(config), student_logits, teacher_logits, labels),
    }


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
    config = teacher.model.config.to_dict()
    data = read_labelled_file(args.eval_file, text_column=args.text_column, label_column=args.label_column)
    labels = np.asarray(eval_label_ids(data.labels, config["id2label"], args.eval_file, head_of(config)))
    print(json.dumps(floor_metrics(teacher, student_config, data.texts, labels)))


if __name__ == "__main__":
    main()
