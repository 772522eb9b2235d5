# The README's commands. Each target installs what is missing first (scripts/bootstrap.sh).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: setup lock test lint typecheck hadolint unit functional frameworks infra image demo bench soak

setup:
	@VENV=$(VENV) scripts/bootstrap.sh

# After changing a dependency in pyproject.toml: packaging/constraints.txt, the one lock.
lock: setup
	@VENV=$(VENV) scripts/lock.sh

test: setup lint typecheck hadolint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy lambda_fn infra

hadolint: setup
	$(BIN)/hadolint Dockerfile.lambda

unit: setup
	$(BIN)/pytest tests/unit

functional: setup
	$(BIN)/pytest tests/functional

frameworks: setup
	$(BIN)/pytest tests/frameworks

infra: setup
	$(BIN)/pytest tests/infra

image: setup
	$(BIN)/pytest tests/image

demo: setup
	$(BIN)/python scripts/demo.py

bench: setup
	$(BIN)/python benchmarks/bench.py

soak: setup
	$(BIN)/pytest tests/soak -s
