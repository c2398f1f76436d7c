#!/bin/bash
# CPU scaling of `compress distill`: one process on 1 and on 2 threads vs torchrun with 2 processes (1 thread each),
# same teacher and time budget, run one after the other on a quiet machine. Prints, per run: world size, steps/s,
# samples/s, effective batch, steps, dev accuracy (information only), replicas in sync.
#   bash benchmarks/bench_scaling.sh [teacher folder, default artifacts/teacher-sst2] [seconds, default 90]
set -euo pipefail
T=${1:-artifacts/teacher-sst2}
S=${2:-90}
PY=${PYTHON:-.venv/bin/python}
common=(--teacher "$T" --budget fast --max-seconds "$S" --eval-file data/sst2/dev.tsv --force)
"$PY" -m asdfd.cli -q distill "${common[@]}" --out artifacts/scale-1p1t --threads 1
"$PY" -m asdfd.cli -q distill "${common[@]}" --out artifacts/scale-1p2t --threads 2
"$PY" -m torch.distributed.run --standalone --nproc-per-node 2 -m asdfd.cli -q distill "${common[@]}" --out artifacts/scale-2p1t
for run in scale-1p1t scale-1p2t scale-2p1t; do
  "$PY" -c "import json; d = json.load(open('artifacts/$run/distill.json')); t, m = d['timings'], d['metrics']; \
print('$run', d['world_size'], t['steps_per_second'], t['samples_per_second'], t['effective_batch'], m['steps'], \
m.get('eval_accuracy'), m.get('replicas_in_sync'))"
done
