# The targets people and CI both use. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-installed-stamp

.PHONY: install demo test test-fast soak lint format bench bench-install clean

$(STAMP): pyproject.toml setup.py mapreduce/_collect.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest tests/unit

# The Raft simulator over many more seeds than `make test` runs (100,000 per group size:
# about half an hour here). A failure prints the seed and the command that replays it.
soak: install
	RAFT_SIM_SEEDS=100000 $(PY) -m pytest tests/raft/test_simulation.py -k test_seeds -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The benchmarks' extra systems and tools (dask, pyspark, matplotlib, profilers): only here,
# so install, test and demo never need them. wrk (bench/namenode_http.py) is a system package.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || echo "bench/namenode_http.py needs wrk, a system package: apt-get install -y wrk (it skips without)"
	touch $(BENCH_STAMP)

bench-install: $(BENCH_STAMP)

bench: bench-install
	$(PY) bench/dfs_io.py
	$(PY) bench/wordcount.py --sizes 64,256,1024 --repeat 1
	$(PY) bench/small_files.py
	$(PY) bench/job_latency.py
	$(PY) bench/cli_latency.py
	$(PY) bench/namenode_ops.py
	$(PY) bench/namenode_http.py
	$(PY) bench/namenode_failover.py
	$(PY) bench/namenode_snapshot.py
	$(PY) bench/safemode_reports.py
	$(PY) bench/report_cost.py
	for n in 100 300 1000; do $(PY) bench/scale.py --datanodes $$n --files $$((n * 333)); done
	$(PY) bench/lock_service.py
	$(PY) bench/report.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
