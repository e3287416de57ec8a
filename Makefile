# The two front-door commands (see README):
#   make demo   - create .venv, install chainrule, train the digits CNN
#   make test   - create .venv, install chainrule with test, docs, distributed (MPI) and onednn extras, run ruff, build the
#                 documentation site with --strict (a broken link or reference fails), run the suite
#   make docs   - build the documentation site into site/ (open site/index.html)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test docs lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,all,docs,distributed,onednn]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/chainrule train

docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

test: $(VENV)/.installed docs
	$(PY) -m ruff check chainrule tests bench
	$(PY) -m pytest -n 2 -q

lint: $(VENV)/.installed
	$(PY) -m ruff check chainrule tests bench
	$(PY) -m mypy chainrule

bench: $(VENV)/.installed
	$(PY) -m pip install -q "torch>=2.0" || true
	for f in bench/bench_*.py; do $(PY) $$f; done

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache
