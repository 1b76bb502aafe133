# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
# `make install VENV=$CONDA_PREFIX` installs into an environment of your own instead.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake
CORES ?= all
PYTEST_ARGS ?=
# Two workers, given whole test files, the slowest first (tests/conftest.py orders them): the
# SLURM file and the tiny local run's file start at once, one per worker, and the unit tests fill
# in around them. (`--dist loadgroup` would group by marks, but pytest-xdist 3.8 loses the
# groups under pytest 9.2: pytest-dev/pytest-xdist#1386.)
# A worker that crashes (a segfault in a kernel, say) fails the test it ran and ends the run,
# rather than being replaced (--max-worker-restart=0).
PYTEST_XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder --max-worker-restart=0
# The fifteen slowest tests, after every run: where the time budget goes.
PYTEST_REPORT ?= --durations=15
# What `make test-unit` leaves out: the tests that start the SLURM test cluster (root) and the one
# that renders the report in chromium.
UNIT_MARKERS ?= not slurm and not chromium
# Debian packages the tests need besides .venv: chromium (the report test renders the report)
# and those of the single-node SLURM cluster that the SLURM tests start (tests/slurm_cluster.sh).
SYSTEM_PACKAGES = chromium $(shell bash tests/slurm_cluster.sh packages)

.PHONY: install system-deps run report test test-unit lint format docs clean

install: $(STAMP)

# Re-install only when the dependencies change.
$(STAMP): pyproject.toml requirements/no-deps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/no-deps.txt
	touch $(STAMP)

run: install
	$(SNAKEMAKE) --cores $(CORES)
	$(SNAKEMAKE) --cores 1 --report results/report.html
	@echo
	@cat results/tables/headline.md

# Install the tests' system packages where possible (root with apt-get); otherwise stop with one
# line naming them. Starting the test cluster also needs root, unless one is running already.
system-deps:
	@bash tests/system_deps.sh $(SYSTEM_PACKAGES)
	@bash tests/slurm_cluster.sh status >/dev/null 2>&1 || [ "$$(id -u)" = 0 ] || { \
		echo "the SLURM tests start a local cluster, which needs root: run make test as root" >&2; \
		exit 1; }

test: install system-deps
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_REPORT) $(PYTEST_ARGS)

# Every test that needs no root, no SLURM and no chromium (no system-deps).
test-unit: install
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_REPORT) -m "$(UNIT_MARKERS)" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules
	$(SNAKEMAKE) --lint --cores 1

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile rules

# config/README.md's Default column, written from config/schema.yaml (tests/test_defaults.py
# fails when it is stale).
docs: install
	$(BIN)/python tools/config_docs.py

clean:
	rm -rf results/* resources .snakemake
	touch results/.gitkeep
