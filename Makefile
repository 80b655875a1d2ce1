# newsbeam: `make demo` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Installs go through uv (from PyPI, into the venv): the same packages as pip resolves for these
# ranges, in seconds instead of minutes (the main venv 140 s -> ~20 s, Airflow's 300 s -> ~40 s
# on this machine), which keeps `make test` on a fresh clone inside its 15 minutes.
UV := $(VENV)/bin/uv
# The suite's worker processes (pytest-xdist); 1 runs it in this process.
TEST_WORKERS ?= 2
DEMO_OUT ?= out/demo
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint typecheck check clean venv bench peers-venv prism prism-stream portable airflow-check flink browser \
	flink-setup flink-jobserver flink-cluster-start flink-cluster-stop

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24" "setuptools>=69" wheel

$(UV): | $(PY)
	$(PIP) install --quiet "uv>=0.9,<1"

# Installed packages get their .pyc files (compileall over the venv after each install, which
# also covers packages an earlier install left uncompiled). Python writes none itself when
# PYTHONDONTWRITEBYTECODE is set (it is on this machine), and then compiles Beam, gRPC and
# protobuf from source in every process: 3 s of each job run and of each of Beam's worker
# processes (974 pages, one worker: 52.7 -> 49.4 s; two workers: 39.5 -> 35.3 s).
COMPILE = -m compileall -q -j 0
$(STAMP): pyproject.toml | $(UV)
	$(UV) pip install --quiet --python $(PY) -e ".[test,dataflow]"
	$(PY) $(COMPILE) $(VENV)/lib > /dev/null || echo "compileall: some files stay source-only"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(VENV)/bin/newsbeam ingest --outlets seeds/demo/outlets.yaml --replay seeds/demo/recording \
		--output $(DEMO_OUT) --run_id demo
	$(VENV)/bin/newsbeam report $(DEMO_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy pipelines transforms evaluation reporting scripts benchmarks deploy

test: $(STAMP) lint typecheck airflow-check flink-setup browser
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS)

# Debian's chromium for tests/reporting/test_report_browser.py (the report opened in a real
# headless browser). Installed with apt-get when missing and we are root; else the test skips.
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium (apt-get) for the report's browser test"; \
		(apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
		 (apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null)) \
		|| echo "chromium could not be installed: tests/reporting/test_report_browser.py will skip"; \
	else echo "no chromium (and no apt-get as root): tests/reporting/test_report_browser.py will skip"; fi

# Airflow in its own venv (its pins conflict with ours; ~40 s to install with uv): imports the DAG
# and checks its tasks against the real CLI (tests/pipelines/test_airflow_dag.py).
AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
$(AIRFLOW_STAMP): pyproject.toml | $(UV)
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(UV) pip install --quiet --python $(AIRFLOW_VENV)/bin/python -e ".[airflow]" \
		"pytest>=8,<10" "pytest-timeout>=2.3,<3"
	rm -f $(AIRFLOW_VENV)/.installed-* && touch $(AIRFLOW_STAMP)

airflow-check: $(AIRFLOW_STAMP)
	$(AIRFLOW_VENV)/bin/pytest -q -p no:cacheprovider tests/pipelines/test_airflow_dag.py

# Side-by-side benchmarks (minutes; never part of `make test`). BENCH_N sets the near-duplicate
# layer's size, BENCH_STORIES_N that of the whole DedupArticles (--layers all).
BENCH_N ?= 100000
BENCH_STORIES_N ?= 20000
bench: $(STAMP)
	$(UV) pip install --quiet --python $(PY) -e ".[test,dataflow,bench]"
	$(PY) $(COMPILE) $(VENV)/lib pipelines transforms evaluation benchmarks > /dev/null \
		|| echo "compileall: some files stay source-only"
	$(PY) benchmarks/quality_cost.py
	$(PY) benchmarks/dedup.py --n $(BENCH_N)
	$(PY) benchmarks/dedup.py --layers all --n $(BENCH_STORIES_N)
	$(PY) benchmarks/progress.py
	$(PY) benchmarks/pipeline.py
	$(PY) benchmarks/stages.py
	$(PY) benchmarks/stages.py --workers 2
	$(MAKE) peers-venv
	$(PY) benchmarks/peers.py

# newspaper4k and news-please for benchmarks/peers.py, in their own venv (their pins conflict
# with ours); the loop they run (benchmarks/bare_loop.py) needs only these packages.
PEERS_VENV ?= .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed-peers-3
$(PEERS_STAMP): | $(UV)
	$(PYTHON) -m venv $(PEERS_VENV)
	$(UV) pip install --quiet --python $(PEERS_VENV)/bin/python "newspaper4k==0.9.6" "news-please==1.6.16" \
		"langdetect==1.0.9" "feedparser>=6.0.11,<7" "pyarrow>=16,<26" "PyYAML>=6,<7"
	$(PEERS_VENV)/bin/python $(COMPILE) $(PEERS_VENV)/lib > /dev/null || echo "compileall: some files stay source-only"
	touch $(PEERS_STAMP)

peers-venv: $(PEERS_STAMP)

# Build Apache Beam's Prism runner from the Go module (Go toolchain needed; ~4 min the first time)
# and run the streaming pipeline on it against a local replay of tempo-history (~2-3 min).
prism: $(STAMP)
	scripts/build-prism.sh $(PY)

prism-stream: $(STAMP)
	scripts/prism-stream.sh

# The demo on PortableRunner + an external SDK worker pool, compared with FnApiRunner (~20 s).
portable: $(STAMP)
	scripts/portable-demo.sh

# Flink: Beam's Flink job server built from deploy/flink/pom.xml (Maven, ~40 s and ~190 MB of
# downloads the first time; rebuilt only when the pom changes) and Flink 1.19.3 from PyPI, both
# cached in .tools/. `make test` runs this setup (seconds once cached) where java and mvn exist;
# tests/pipelines/test_flink.py skips without them. See docs/runners.md.
FLINK_JAR := .tools/jobserver/$(shell cksum < deploy/flink/pom.xml | cut -d' ' -f1)/job-server.jar
$(FLINK_JAR): deploy/flink/pom.xml scripts/flink-setup.sh | $(PY)
	PYTHON=$(PY) scripts/flink-setup.sh >/dev/null

flink-jobserver: $(FLINK_JAR)

flink-setup: | $(PY)
	@if command -v java >/dev/null && command -v mvn >/dev/null; then \
		PYTHON=$(PY) scripts/flink-setup.sh >/dev/null; \
	else echo "java or mvn missing: no Flink setup, tests/pipelines/test_flink.py will skip"; fi

# The demo on a local cluster (1 JobManager + 2 TaskManagers, ports chosen free) compared with
# FnApiRunner; everything started is stopped at the end (~2 min).
flink: $(STAMP) $(FLINK_JAR)
	$(PY) scripts/flink_run.py demo

flink-cluster-start: $(FLINK_JAR)
	PYTHON=$(PY) scripts/flink-cluster.sh start

flink-cluster-stop:
	PYTHON=$(PY) scripts/flink-cluster.sh stop

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) $(PEERS_VENV) out .pytest_cache .mypy_cache .ruff_cache
