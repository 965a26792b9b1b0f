# activelabel: `make run` (demo on the embedded local AWS) and `make test` (the whole suite).
# Everything installs into .venv from requirements*.txt; nothing needs an AWS account.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Python 3.12 matches the Lambda runtime we package for (see docs/deploy.md); 3.11-3.13 run the code.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.13 python3.11 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert (3,11) <= sys.version_info[:2] <= (3,13)' 2>/dev/null; then echo $$p; break; fi; done)
# Packaging needs a real CPython 3.12 (the layer's .pyc and its import test); pyenv installs one if none is found.
PYTHON312 ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1); do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; assert sys.version_info[:2] == (3,12)' 2>/dev/null; then command -v $$p; break; fi; done)
STAGE ?= dev
# make deploy: where `aws cloudformation package` uploads the zips, and the stack to create/update.
STACK ?= activelabel-$(STAGE)
ARTIFACT_BUCKET ?=
# make deploy: where the alarms go (an email address; empty: subscribe to the topic yourself) and the
# project ids with their own metric series (comma-separated, at most 20): docs/operations.md
ALARM_EMAIL ?=
METRIC_PROJECTS ?=
CHECKOV_VENV := .venv-checkov

.PHONY: venv browser fortunes test-browser console-screenshots test test-unit test-functional test-e2e test-infra serve run bench bench-cold-start package deploy python312 checkov-venv clean e2e-labelstudio bench-labelstudio-stream bench-train bench-active-learning bench-active-learning-digits bench-next bench-preannotate bench-auto-label bench-suspects cleanlab-venv

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "need Python 3.11-3.13 (3.12 preferred)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 requires pip<26.3 (its packager drives pip)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

# checkov pins libraries that clash with ours: it gets a venv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -n "$(PYTHON)" || { echo "need Python 3.11-3.13"; exit 1; }
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(CHECKOV_VENV)/bin/checkov --version >/dev/null
	@touch $@

checkov-venv: $(CHECKOV_VENV)/.installed

python312:
	@if [ -z "$(PYTHON312)" ]; then \
	  if command -v pyenv >/dev/null 2>&1; then pyenv install --skip-existing 3.12; \
	  else echo "need CPython 3.12 (the Lambda runtime): install it or set PYTHON312=/path/to/python3.12"; exit 1; fi; fi

# dist/<stage>/: sam.yaml, deployment.zip, layer.zip (cached in dist/.layer-cache, keyed on requirements.txt).
package: venv python312
	$(PY) infra/package.py --stage $(STAGE) --python312 "$$( [ -n "$(PYTHON312)" ] && echo "$(PYTHON312)" || ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 | sort -V | tail -1)"

# Needs the AWS CLI and credentials; see docs/deploy.md. Nothing here can run it.
deploy: package
	@test -n "$(ARTIFACT_BUCKET)" || { echo "set ARTIFACT_BUCKET=<an S3 bucket you own, in the target region>"; exit 1; }
	aws cloudformation package --template-file dist/$(STAGE)/sam.yaml --s3-bucket $(ARTIFACT_BUCKET) \
	  --output-template-file dist/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file dist/$(STAGE)/packaged.yaml --stack-name $(STACK) \
	  --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --parameter-overrides AlarmEmail="$(ALARM_EMAIL)" MetricProjects="$(METRIC_PROJECTS)"
	aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs" --output table

# Headless Chromium for the console's browser test: Debian's packages (apt-get, as root; a browser
# downloaded from elsewhere does not install here).
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; fi
	@chromium --version 2>/dev/null

# Debian's fortunes (BSD fortune's topic files): the multi-class text set of bench/fortunes.py
fortunes:
	@test -d /usr/share/games/fortunes || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends fortunes; }

test: venv package checkov-venv browser
	$(PY) -m ruff check --select F,E9 app.py chalicelib activelabel_client bench tests infra e2e_labelstudio
	ACTIVELABEL_REQUIRE_BROWSER=1 $(PY) -m pytest tests -q

# The console (/ui/) in headless Chromium against the local stack (tests/browser)
test-browser: venv browser
	ACTIVELABEL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/browser -q -s

# Re-take the console's screenshots (docs/console/*.png) with the browser test
console-screenshots: venv browser
	ACTIVELABEL_REQUIRE_BROWSER=1 ACTIVELABEL_CONSOLE_SCREENSHOTS=docs/console $(PY) -m pytest tests/browser -q -s

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-functional: venv
	$(PY) -m pytest tests/functional -q

test-e2e: venv
	$(PY) -m pytest tests/e2e -q

test-infra: venv package checkov-venv
	$(PY) -m pytest tests/functional/infra -q -s

serve: venv
	$(PY) -m chalicelib.local serve --port $(PORT) $(if $(FRESH),--fresh,)

run: venv
	$(PY) -m activelabel_client demo --port $(PORT) $(if $(DEMO_ONLY),--exit-after,)

# the label-studio-ml SDK peer (bench/lsml_peer.py) serves our model's numpy form: numpy + defusedxml in its venv
bench: venv .venv-lsml/.bench-peer
	$(PY) bench/predict.py

# A real Label Studio (about 1 GB, in its own venv; not part of `make test`) uses our /ls/ backend.
LS_VENV := .venv-labelstudio
LS_PYTHON ?= $(shell for p in python3.12 $$(ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -1) python3.13 python3.11; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys' 2>/dev/null; then echo $$p; break; fi; done)
LABEL_STUDIO_VERSION ?= 1.23.2

$(LS_VENV)/.installed:
	@test -x $(LS_VENV)/bin/python || $(LS_PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet label-studio==$(LABEL_STUDIO_VERSION)
	@touch $@

# label-studio-ml 1.0.9 (the SDK custom backends are built with) imports rq without declaring it
# and downgrades Flask: its own venv too; tests/e2e/test_labelstudio_ml_sdk.py uses it when present.
LSML_VENV := .venv-lsml
LSML_PYTHON ?= $(shell for p in python3.11 $$(ls -d $$HOME/.pyenv/versions/3.11*/bin/python3.11 2>/dev/null | sort -V | tail -1) python3.12 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys' 2>/dev/null; then echo $$p; break; fi; done)

$(LSML_VENV)/.installed:
	@test -x $(LSML_VENV)/bin/python || $(LSML_PYTHON) -m venv $(LSML_VENV)
	$(LSML_VENV)/bin/python -m pip install --quiet label-studio-ml==1.0.9 rq==1.10.1
	@touch $@

$(LSML_VENV)/.bench-peer: $(LSML_VENV)/.installed
	$(LSML_VENV)/bin/python -m pip install --quiet "numpy>=2,<3" defusedxml==$$(grep -i '^defusedxml==' requirements.txt | cut -d= -f3)
	@touch $@

e2e-labelstudio: venv $(LS_VENV)/.installed $(LSML_VENV)/.installed
	$(PY) e2e_labelstudio/run.py
	$(PY) e2e_labelstudio/stream.py
	$(PY) -m pytest tests/e2e/test_labelstudio_ml_sdk.py -q

# ml.labelstudio_stream through a real Label Studio: labels to 95% with its stream in our order vs its default
bench-labelstudio-stream: venv $(LS_VENV)/.installed
	$(PY) bench/labelstudio_stream.py

bench-cold-start: package
	$(PY) bench/cold_start.py --stage $(STAGE)

bench-train: venv
	$(PY) bench/train.py

# active learning: labels per strategy vs random (product loop on the local stack + in-memory peers)
bench-active-learning: venv
	$(PY) bench/active_learning.py --product

# digits (tabular kind, all 1,797 images: pool 1,297 + 500 held out) through the product loop, 3 seeds
# (~45 min on 2 cores): bench/results/active_learning-product-digits-3seeds.* (the current 9-seed figures: bench/results/README.md); --first-seed N for others
bench-active-learning-digits: venv
	$(PY) bench/active_learning.py --datasets digits --pool 1297 --test 500 --budget 160 --seeds 3 \
		--product --no-memory --product-strategies auto,margin --tag product-digits-al
	$(PY) bench/active_learning.py --datasets digits --pool 1297 --test 500 --budget 400 --seeds 3 \
		--product --no-memory --product-strategies random --tag product-digits-random
	$(PY) bench/active_learning.py --combine bench/results/active_learning-product-digits-al.json \
		bench/results/active_learning-product-digits-random.json --tag product-digits-3seeds

# auto-labelling through the product loop: SMS (all 5,574), digits, breast cancer, 10 seeds each
# (hours on 2 shared cores; each seed is kept as it finishes, see the script's docstring):
# bench/results/auto_label.{md,json,png} and auto_label-<data set>.json
bench-auto-label: venv
	$(PY) bench/auto_label.py --datasets $(or $(DATASETS),sms,digits,breast_cancer) --seeds $(or $(SEEDS),10)

# cleanlab (AGPL: never a product dependency) in a venv of its own; the suspects bench runs its
# find_label_issues in a subprocess of it, fed a JSON file of out-of-fold probabilities
CLEANLAB_VENV := .venv-cleanlab
CLEANLAB_VERSION ?= 2.9.0

$(CLEANLAB_VENV)/.installed:
	@test -n "$(PYTHON)" || { echo "need Python 3.11-3.13"; exit 1; }
	@test -x $(CLEANLAB_VENV)/bin/python || $(PYTHON) -m venv $(CLEANLAB_VENV)
	$(CLEANLAB_VENV)/bin/python -m pip install --quiet cleanlab==$(CLEANLAB_VERSION)
	@touch $@

cleanlab-venv: $(CLEANLAB_VENV)/.installed

# suspect labels: an annotator flipping 10% of labels; the product's flags vs cleanlab's on the same
# out-of-fold probabilities, held-out accuracy before and after relabelling the flagged tasks
bench-suspects: venv cleanlab-venv
	$(PY) bench/auto_label.py --suspects --datasets $(or $(DATASETS),sms,digits,breast_cancer) --seeds $(or $(SEEDS),10)

# GET /next request count and latency at two pool sizes; rescoring fan-out of a large pool
# dynalite (npm) is the DynamoDB on which next's latency can be compared across pool sizes: bench/local_dynamodb.py
bench/dynalite/node_modules/.installed: bench/dynalite/package-lock.json
	npm ci --prefix bench/dynalite --ignore-scripts --no-audit --no-fund
	@touch $@

bench-next: venv bench/dynalite/node_modules/.installed
	$(PY) bench/next_task.py

# pre-annotating a whole project through the fan-out (N=100000 by default; N=10000 takes minutes)
bench-preannotate: venv
	$(PY) bench/preannotate.py --tasks $(or $(N),100000) --out preannotate_$(or $(N),100000).json

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(CLEANLAB_VENV) .pytest_cache dist bench/out
