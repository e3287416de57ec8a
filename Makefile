# The two front-door commands (see README):
#   make demo   - create .venv, install chainrule, train the digits CNN
#   make test   - create .venv, install chainrule with test extras, run the whole suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,all]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/chainrule train

test: $(VENV)/.installed
	$(PY) -m ruff check chainrule tests bench
	$(PY) -m pytest -n 2 -q

lint: $(VENV)/.installed
	$(PY) -m ruff check chainrule tests bench
	$(PY) -m mypy chainrule

bench: $(VENV)/.installed
	$(PY) -m pip install -q "torch>=2.0" || true
	for f in bench/bench_*.py; do $(PY) $$f; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
