# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each creates .venv on first use and installs the exact versions in constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= results/latest

.PHONY: run quick test test-all bench-save bench-check clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# -c pins every package, torch included; never install without it.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/linreg-bench run --out $(OUT)

quick: $(STAMP)
	$(BIN)/linreg-bench run --quick --out results/quick

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
