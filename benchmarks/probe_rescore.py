"""Score finished bench_distill students on today's held-out probes (every input form), for the quality fit.

    python benchmarks/probe_rescore.py --teacher artifacts/teacher-sst2 --results artifacts/any/sst2/results.jsonl

Students distilled before a probe existed lack its figures in their results. For each row of a bench_distill
`results.jsonl`, this rebuilds the run's config (the row's recorded `config`, resolved against the teacher as
`distill` resolves it), builds the probes as the loop does (`DistillLoop.build_heldouts`: same seed, same sets)
and scores the saved student on them (`diagnostics.evaluate_heldout`, the run's precision). The rows are written,
with `synthetic` replaced, to `results.probes.jsonl` beside the input (`benchmarks/quality_fit.py` reads either).
The students are found where bench_distill saves them: `<out>/l<layers>/<row>-s<seed>`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from transformers import AutoModelForSequenceClassification

from asdfd.compressor import DistillConfig, load_teacher
from asdfd.compressor.devices import setup_placement
from asdfd.compressor.diagnostics import evaluate_heldout
from asdfd.compressor.loop import DistillLoop, resolve_config
from asdfd.core._io import atomic_file
from asdfd.core.config_file import apply_overrides
from asdfd.core.model_folder import LOCAL_ONLY, read_classifier_config

logger = logging.getLogger("probe_rescore")


def rescore(teacher_dir: Path, student_dir: Path, recorded: dict, threads: int, teachers: dict) -> dict:
    """The probe metrics of the student in `student_dir`, distilled from `teacher_dir` with config `recorded`
    (`teachers` caches the loaded teacher per input kind: every row of a file shares it)."""
    config = resolve_config(apply_overrides(DistillConfig(), recorded), read_classifier_config(teacher_dir))
    placement = setup_placement("cpu", config.precision, threads)
    if config.input_kind not in teachers:
        teachers[config.input_kind] = load_teacher(teacher_dir, placement.device, config.input_kind)
    teacher = teachers[config.input_kind]
    loop = DistillLoop(teacher, config, placement)
    loop.build_heldouts()
    student = AutoModelForSequenceClassification.from_pretrained(student_dir, **LOCAL_ONLY)
    return evaluate_heldout(student, loop.heldouts, placement, teacher.head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--results", type=Path, required=True, help="A bench_distill results.jsonl.")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", handlers=[logging.StreamHandler(sys.stdout)]
    )
    lines, teachers = [], {}
    for line in args.results.read_text().splitlines():
        record = json.loads(line)
        student = args.results.parent / f"l{record['layers'].replace(',', '')}" / f"{record['row']}-s{record['seed']}"
        record["synthetic"] = rescore(args.teacher, student, record["config"], args.threads, teachers)
        logger.info("%s: %s", student, {k: v for k, v in record["synthetic"].items() if k.endswith("macro_agreement")})
        lines.append(json.dumps(record))
    out = args.results.with_name("results.probes.jsonl")
    with atomic_file(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
