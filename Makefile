# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv on first use.  torch is installed first, pinned to the CPU
# build that lies on this machine's disk, so that the project's `torch>=2.4`
# is already satisfied and pip never fetches a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Where `make run` imports MovieLens from on first run.  Empty means: download
# ml-latest-small from GroupLens (needs the internet).
MOVIELENS_DIR ?= $(shell test -d ../shared/data/ml-latest-small && echo ../shared/data/ml-latest-small)
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[postgres,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/nncf-bot setup $(if $(MOVIELENS_DIR),--movielens "$(MOVIELENS_DIR)",--download)
	$(BIN)/nncf-bot start

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
