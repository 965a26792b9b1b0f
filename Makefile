# activelabel: `make run` (demo on the embedded local AWS) and `make test` (the whole suite).
# Everything installs into .venv from requirements*.txt; nothing needs an AWS account.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Python 3.12 matches the Lambda runtime we package for (see docs/architecture.md); 3.11-3.13 run the code.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.13 python3.11 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert (3,11) <= sys.version_info[:2] <= (3,13)' 2>/dev/null; then echo $$p; break; fi; done)

.PHONY: venv test test-unit test-functional test-e2e serve run bench clean e2e-labelstudio

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "need Python 3.11-3.13 (3.12 preferred)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

test: venv
	$(PY) -m ruff check --select F,E9 app.py chalicelib activelabel_client bench tests e2e_labelstudio
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

# A real Label Studio (about 1 GB, in its own venv; not part of `make test`) uses our /ls/ backend.
LS_VENV := .venv-labelstudio
LS_PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.13 python3.11; do \
            if command -v $$p >/dev/null 2>&1; then echo $$p; break; fi; done)
LABEL_STUDIO_VERSION ?= 1.23.2

$(LS_VENV)/.installed:
	@test -x $(LS_VENV)/bin/python || $(LS_PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==$(LABEL_STUDIO_VERSION)
	@touch $@

# label-studio-ml 1.0.9 (the SDK custom backends are built with) imports rq without declaring it
# and downgrades Flask: its own venv too; tests/e2e/test_labelstudio_ml_sdk.py uses it when present.
LSML_VENV := .venv-lsml
LSML_PYTHON ?= $(shell for p in python3.11 $$(ls -d $$HOME/.pyenv/versions/3.11*/bin/python3.11 2>/dev/null | sort -V | tail -1) python3.12 python3; do \
            if command -v $$p >/dev/null 2>&1; then echo $$p; break; fi; done)

$(LSML_VENV)/.installed:
	@test -x $(LSML_VENV)/bin/python || $(LSML_PYTHON) -m venv $(LSML_VENV)
	$(LSML_VENV)/bin/python -m pip install --quiet label-studio-ml==1.0.9 rq==1.10.1
	@touch $@

e2e-labelstudio: venv $(LS_VENV)/.installed $(LSML_VENV)/.installed
	$(PY) e2e_labelstudio/run.py
	$(PY) -m pytest tests/e2e/test_labelstudio_ml_sdk.py -q

clean:
	rm -rf $(VENV) .pytest_cache dist bench/out
