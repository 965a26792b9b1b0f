# activelabel: `make run` (demo on the embedded local AWS) and `make test` (the whole suite).
# Everything installs into .venv from requirements*.txt; nothing needs an AWS account.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Python 3.12 matches the Lambda runtime we package for (see docs/architecture.md); 3.11-3.13 run the code.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.13 python3.11 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert (3,11) <= sys.version_info[:2] <= (3,13)' 2>/dev/null; then echo $$p; break; fi; done)

.PHONY: venv test test-unit test-functional test-e2e serve run bench bench-active-learning bench-next clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "need Python 3.11-3.13 (3.12 preferred)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m ruff check --select F,E9 app.py chalicelib activelabel_client bench tests
	$(PY) -m pytest tests -q

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-functional: venv
	$(PY) -m pytest tests/functional -q

test-e2e: venv
	$(PY) -m pytest tests/e2e -q

serve: venv
	$(PY) -m chalicelib.local serve --port $(PORT)

run: venv
	$(PY) -m activelabel_client demo --port $(PORT) $(if $(DEMO_ONLY),--exit-after,)

bench: venv
	$(PY) bench/predict.py

# active learning: labels per strategy vs random (product loop on the local stack + in-memory peers)
bench-active-learning: venv
	$(PY) bench/active_learning.py --product

# GET /next request count and latency at two pool sizes; rescoring fan-out of a large pool
bench-next: venv
	$(PY) bench/next_task.py

clean:
	rm -rf $(VENV) .pytest_cache dist bench/out
