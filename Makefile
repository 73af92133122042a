# Tributary — the two commands are `make demo` and `make test`. Everything they need is installed
# here, pinned: the Python venv (.venv) with the local AWS emulator comes from requirements-dev.txt,
# the Iceberg reader venv (.venv-iceberg: pyiceberg and DuckDB's iceberg extension, the independent
# readers of Iceberg tables) from requirements-iceberg.txt.
# Deployment tools live in venvs of their own (infra/requirements-*.txt); see infra/README.md.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
# Separate from .venv: the DuckDB extension wheels pin a DuckDB version other than .venv's.
ICEBERG_VENV ?= .venv-iceberg
PYTHON ?= python3
CARGO ?= cargo
WITH_MOTO := VENV=$(VENV) ICEBERG_VENV=$(ICEBERG_VENV) scripts/with-moto.sh
# Build output outside the clone, shared by `make test`, `make demo` and CI (.ci/run), so each
# reuses what the others built.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/tributary/target

# Infrastructure (infra/README.md). Each tool venv is separate so its pins cannot meet moto's.
INFRA_VENV ?= .venv-infra
AWS_VENV ?= .venv-aws
LAMBDA_VENV ?= .venv-lambda
PIP_INSTALL = bin/pip install --quiet --disable-pip-version-check
# Instruction set of the Lambda zips; the template's Architecture parameter defaults to the same.
ARCH ?= arm64
# The Lambda binaries built and deployed (tests/tests/stack_definitions.rs checks this list against
# the template's functions and the workspace's functions/ packages).
LAMBDA_BINARIES := file-manager batch-manager processor
LAMBDA_TARGET_DIR ?= $(HOME)/.cache/tributary/lambda-target
TEMPLATE := dist/infra/template.json
STACK ?=
REGION ?=
ARTIFACT_BUCKET ?=
ARTIFACT_PREFIX ?= tributary
PARAMS ?=
DRY_RUN ?=
DEPLOY_ENV = BINARIES="$(LAMBDA_BINARIES)" AWS_VENV=$(AWS_VENV) STACK=$(STACK) REGION=$(REGION) ARTIFACT_BUCKET=$(ARTIFACT_BUCKET) \
	ARTIFACT_PREFIX=$(ARTIFACT_PREFIX) ARCH=$(ARCH) PARAMS="$(PARAMS)" DRY_RUN=$(DRY_RUN)

.PHONY: help test demo demo-check readers-check venv iceberg-venv fmt fmt-check clippy unit integration bench moto clean \
	infra-check lambda deploy undeploy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

test: venv iceberg-venv infra-check demo-check readers-check fmt-check clippy ## infra checks, demo data and Iceberg reader checks, fmt check, clippy -D warnings, unit + integration tests (starts and stops moto)
	$(WITH_MOTO) $(CARGO) test --workspace --locked

demo: venv ## Run the whole pipeline locally: DMS dataset → emulator → lake, checked row by row
	$(CARGO) build --locked -p tributary-cli
	VENV=$(VENV) TRIBUTARY=$(CARGO_TARGET_DIR)/debug/tributary scripts/demo.sh

demo-check: venv ## Self-check of the demo's dataset generator and verifier (small scale)
	$(VENV)/bin/python -m unittest discover --start-directory demo

readers-check: venv iceberg-venv ## Self-check of the Iceberg readers (pyiceberg, DuckDB) on tables pyiceberg writes to moto
	$(WITH_MOTO) $(ICEBERG_VENV)/bin/python -m unittest discover --start-directory tests/readers

venv: $(VENV)/.installed ## Create the project venv with the pinned tools

$(VENV)/.installed: requirements-dev.txt constraints-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	touch $@

iceberg-venv: $(ICEBERG_VENV)/.installed ## Create the Iceberg reader venv (pyiceberg, DuckDB + iceberg extension), pinned

$(ICEBERG_VENV)/.installed: requirements-iceberg.txt constraints-iceberg.txt
	$(PYTHON) -m venv $(ICEBERG_VENV)
	$(ICEBERG_VENV)/$(PIP_INSTALL) -r requirements-iceberg.txt -c constraints-iceberg.txt
	touch $@

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: ## Unit tests only (no emulator)
	$(CARGO) test --workspace --locked --lib --bins

integration: venv iceberg-venv ## Integration tests only (starts and stops moto)
	$(WITH_MOTO) $(CARGO) test --locked -p tributary-tests -p tributary-cli --tests

bench: ## Smoke benchmark of the merge engine: 1M-row full load, then 50k changes (release build)
	$(CARGO) run --release --locked -p tributary-bench --bin merge-bench

moto: venv ## Run moto on 127.0.0.1 until Ctrl-C (for manual exploration)
	$(WITH_MOTO) bash -c 'echo "AWS_ENDPOINT_URL=$$AWS_ENDPOINT_URL — Ctrl-C to stop"; sleep infinity'

clean: ## Remove build output and the venvs
	$(CARGO) clean
	rm -rf $(VENV) $(ICEBERG_VENV) $(INFRA_VENV) $(AWS_VENV) $(LAMBDA_VENV) dist

infra-check: $(TEMPLATE) $(INFRA_VENV)/.installed ## Render the template; cfn-lint, checkov, state machine tests
	$(VENV)/bin/cfn-lint $(TEMPLATE)
	$(INFRA_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file $(TEMPLATE)
	$(VENV)/bin/python -m unittest discover --start-directory infra/tests

# What is linted is what is deployed: the source template with the state machine definition inlined.
$(TEMPLATE): infra/template.yaml infra/state-machine.asl.json scripts/render-template.py $(VENV)/.installed
	$(VENV)/bin/python scripts/render-template.py infra/template.yaml $@

lambda: $(LAMBDA_VENV)/.installed ## Build the Lambda zips into dist/lambda (ARCH=arm64|x86_64, release)
	BINARIES="$(LAMBDA_BINARIES)" ARCH=$(ARCH) LAMBDA_VENV=$(LAMBDA_VENV) LAMBDA_TARGET_DIR=$(LAMBDA_TARGET_DIR) scripts/build-lambda.sh

deploy: $(TEMPLATE) $(AWS_VENV)/.installed ## Deploy: make deploy STACK=… REGION=… ARTIFACT_BUCKET=… [PARAMS="K=V …"]
	$(DEPLOY_ENV) scripts/deploy.sh deploy

undeploy: $(AWS_VENV)/.installed ## Delete the stack (buckets and tables are retained): make undeploy STACK=… REGION=…
	$(DEPLOY_ENV) scripts/deploy.sh undeploy

$(INFRA_VENV)/.installed: infra/requirements-checkov.txt infra/constraints-checkov.txt
	$(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/$(PIP_INSTALL) -r infra/requirements-checkov.txt -c infra/constraints-checkov.txt
	touch $@

$(AWS_VENV)/.installed: infra/requirements-aws.txt infra/constraints-aws.txt
	$(PYTHON) -m venv $(AWS_VENV)
	$(AWS_VENV)/$(PIP_INSTALL) -r infra/requirements-aws.txt -c infra/constraints-aws.txt
	touch $@

$(LAMBDA_VENV)/.installed: infra/requirements-lambda.txt
	$(PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/$(PIP_INSTALL) --no-deps -r infra/requirements-lambda.txt
	touch $@
