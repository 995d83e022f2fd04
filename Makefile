# SwapLab: `make demo` and `make test` set everything up on first use.
# An active virtualenv or conda env is used as it is; otherwise .venv/ is created.
SHELL := /bin/bash
PYTHON_BOOT ?= python3
ifneq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
  PY := python
  STAMP := .setup-done-env
else
  PY := .venv/bin/python
  STAMP := .venv/.setup-done
endif
# The offline mirror of the pinned models and samples (used when present; see README).
export SWAPLAB_MIRROR ?= $(if $(wildcard ../shared/SHA256SUMS),$(abspath ../shared),)

.PHONY: setup demo test test-fast bench lint clean-demo

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ ! -x "$(PY)" ] && [ "$(PY)" = ".venv/bin/python" ]; then $(PYTHON_BOOT) -m venv .venv; fi
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[eval,dev,ui]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (swaplab)" >/dev/null
	@touch $@

demo: setup  ## collect -> align -> train (30 min) -> swap -> evaluate on the bundled samples (about 40 min on 2 CPU cores)
	$(PY) -m swaplab.demo $(DEMO_ARGS)

test: setup  ## unit tests of lib/, every notebook through papermill, and the browser tests (tests/ui: needs chromium)
	$(PY) -m pytest -n 2 --dist loadfile

test-fast: setup  ## unit tests only (seconds to a few minutes)
	$(PY) -m pytest -m "not notebook and not ui"

bench: setup  ## speed figures: extraction, training, conversion
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/input_pipeline.py
	$(PY) benchmarks/convert_speed.py
	$(PY) benchmarks/multiworker.py

lint: setup
	$(PY) -m ruff check lib tests benchmarks

clean-demo:
	rm -rf data/demo weights/demo runs/demo
