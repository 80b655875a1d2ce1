# newsbeam: `make demo` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_OUT ?= out/demo
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck check clean venv bench prism prism-stream portable airflow-check flink

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
	$(VENV)/bin/mypy pipelines transforms evaluation scripts benchmarks deploy

test: $(STAMP) lint typecheck airflow-check
	$(VENV)/bin/pytest -q

# Airflow in its own venv (its pins conflict with ours; ~1.5 min to install): imports the DAG
# and checks its tasks against the real CLI (tests/pipelines/test_airflow_dag.py).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
$(AIRFLOW_STAMP): pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade "pip>=24" "setuptools>=69" wheel
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -e ".[airflow]" "pytest>=8,<10" "pytest-timeout>=2.3,<3"
	rm -f $(AIRFLOW_VENV)/.installed-* && touch $(AIRFLOW_STAMP)

airflow-check: $(AIRFLOW_STAMP)
	$(AIRFLOW_VENV)/bin/pytest -q -p no:cacheprovider tests/pipelines/test_airflow_dag.py

# Side-by-side benchmarks (minutes; never part of `make test`). BENCH_N sets the dedup size.
BENCH_N ?= 100000
bench: $(STAMP)
	$(PIP) install --quiet -e ".[test,dataflow,bench]"
	$(PY) benchmarks/quality_cost.py
	$(PY) benchmarks/dedup.py --n $(BENCH_N)

# Build Apache Beam's Prism runner from the Go module (Go toolchain needed; ~4 min the first time)
# and run the streaming pipeline on it against a local replay of tempo-history (~2-3 min).
prism: $(STAMP)
	scripts/build-prism.sh $(PY)

prism-stream: $(STAMP)
	scripts/prism-stream.sh

# The demo on PortableRunner + an external SDK worker pool, compared with FnApiRunner (~20 s).
portable: $(STAMP)
	scripts/portable-demo.sh

# Flink from PyPI + Beam's Flink job server from Maven Central (into .tools/), a local cluster
# (JobManager + TaskManager), the demo on it compared with FnApiRunner. See docs/runners.md.
flink: $(STAMP)
	-PYTHON=$(PY) scripts/flink-setup.sh
	PYTHON=$(PY) scripts/flink-cluster.sh start
	scripts/flink-demo.sh; status=$$?; PYTHON=$(PY) scripts/flink-cluster.sh stop; exit $$status

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) out .pytest_cache .mypy_cache .ruff_cache
