# Quick start: `make demo` (set up, then simulate the bundled default trace)
# and `make test` (set up, then run the whole test suite).
# Set-up is idempotent: the venv is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.zapsim-installed

.PHONY: setup demo test lint bench clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	$(PY) -c "import torch, sys; sys.exit('torch is a CUDA build (' + str(torch.version.cuda) + '); expected the CPU build') if torch.version.cuda else None"
	touch $(STAMP)

# The main job: simulate the bundled default trace (ResNet-20, checkerboard ZAP,
# real weights and images) on the Eyeriss-like accelerator, then draw the figures.
# results/demo is zapsim's own scratch output, so the demo replaces it each run.
demo: setup
	$(PY) -m zapsim.run arch_configs/eyeriss_like.yaml --out results/demo --overwrite
	$(PY) -m zapsim.plot results/demo/results.json --trace traces/default --out results/demo --overwrite
	@echo "headline figure: results/demo/energy_accuracy.png"

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build *.egg-info
