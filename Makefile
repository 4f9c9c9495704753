# Two commands do everything on a fresh machine: `make run` and `make test`.
# Each creates .venv on first use and installs the exact versions in constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= results/latest

.PHONY: run quick test test-all fuzz bench-save bench-check clean readme reference

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
	$(BIN)/lint-imports --no-cache  # the layer contracts in pyproject.toml
	$(BIN)/python -m pytest -m "not slow" --durations=10  # the 10 slowest, so the suite's time stays visible

test-all: $(STAMP)
	$(BIN)/python -m pytest

# The long Hypothesis profile of the fuzz campaign (README: "Files from strangers").
fuzz: $(STAMP)
	LINREG_FUZZ=long $(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider --hypothesis-show-statistics

# The pytest-benchmark suite (tests/benchmarks, outside `make test`): one thread, allocator pinned
# (big arrays otherwise measure page faults). --benchmark-json keeps the raw samples; autosave does not.
bench-save: $(STAMP)
	mkdir -p .benchmarks
	MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456 LINREG_BENCH_THREADS=1 \
	  $(BIN)/python -m pytest tests/benchmarks -q -m "not slow" -p no:cacheprovider \
	  --benchmark-warmup=on --benchmark-min-rounds=20 --benchmark-max-time=0.5 \
	  --benchmark-json=.benchmarks/baseline.json

# Same run, then a significance-aware median gate; exit 1 names the regressed benchmarks. 20% by default:
# separate runs differ by up to 16% here (FAIL_ON=median:N% overrides). The interleaved
# `linreg-bench compare --rev BASE` holds at 5-10%: use that as the CI gate.
bench-check: $(STAMP)
	@test -f .benchmarks/baseline.json || { echo "error: no .benchmarks/baseline.json (run make bench-save first)" >&2; exit 2; }
	MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456 LINREG_BENCH_THREADS=1 \
	  $(BIN)/python -m pytest tests/benchmarks -q -m "not slow" -p no:cacheprovider \
	  --benchmark-warmup=on --benchmark-min-rounds=20 --benchmark-max-time=0.5 \
	  --benchmark-json=.benchmarks/current.json
	$(BIN)/linreg-bench compare .benchmarks/baseline.json .benchmarks/current.json --fail-on $${FAIL_ON:-median:20%}

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The measured tables of README.md and of every results/<series>/README.md record, regenerated from
# the committed files they quote (bench/report/readme.py); `make test` fails when one is stale.
readme: $(STAMP)
	$(BIN)/python -m bench.report.readme

# The committed reference run and its record (results/reference-cpu/README.md), then the README's tables.
reference: $(STAMP)
	$(BIN)/python tests/benchmarks/make_reference.py --out results/reference-cpu
	$(BIN)/python -m bench.report.readme
