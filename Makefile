# `make demo` and `make test` each do all of the set-up they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The core Cython compiles (setup.py): editing one rebuilds it.
CORE := $(wildcard src/circuitgrad/tensor.p* $(addprefix src/circuitgrad/core/,$(addsuffix .p*,gate trace node backward)))

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml setup.py $(CORE)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/circuitgrad demo

# The tests run twice: on the compiled core, then on the same core as pure Python (what a
# machine without a C compiler runs).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	@command -v chromium >/dev/null || echo "*** chromium not found: the circuit lab's browser \
	tests (tests/test_lab.py) will be SKIPPED; install it with: apt-get install chromium ***"
	$(PY) -c "import circuitgrad as cg; print('core under test:', \
	    'compiled' if cg.compiled.core_is_compiled() else 'pure Python (no compiled build)')"
	@# with a C compiler here the core must have compiled: a Cython error falls back to pure
	@# Python at install (for users), which must not pass unnoticed here
	@if command -v cc >/dev/null && ! $(PY) -c "import circuitgrad as cg, sys; \
	    sys.exit(not cg.compiled.core_is_compiled())"; then \
	    echo "the core did not compile although a C compiler is here: see the Cython error" \
	    "in: $(PY) -m pip install -e . -v"; exit 1; fi
	$(PY) -m pytest
	CIRCUITGRAD_PURE_PYTHON=1 $(PY) -m pytest

bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
	find src -name "*.so" -delete -o -name "*.c" -delete
