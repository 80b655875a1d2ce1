# newsbeam: `make demo` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= out/demo
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck check clean venv bench portable

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" "setuptools>=69" wheel

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test,dataflow]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/newsbeam ingest --outlets seeds/demo/outlets.yaml --replay seeds/demo/recording \
		--output $(DEMO_OUT) --run_id demo
	$(PY) -m pipelines.report $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy pipelines transforms scripts benchmarks deploy

test: $(STAMP) lint typecheck
	$(VENV)/bin/pytest -q

# Side-by-side benchmarks (minutes; never part of `make test`). BENCH_N sets the dedup size.
BENCH_N ?= 100000
bench: $(STAMP)
	$(PIP) install --quiet -e ".[test,dataflow,bench]"
	$(PY) benchmarks/quality_cost.py
	$(PY) benchmarks/dedup.py --n $(BENCH_N)

# The demo on PortableRunner + an external SDK worker pool, compared with FnApiRunner (~20 s).
portable: $(STAMP)
	scripts/portable-demo.sh

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
