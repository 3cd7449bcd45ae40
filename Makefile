# The two commands of the README:
#   make demo   set up everything pinned, build the front end, open the quickstart in JupyterLab
#   make test   the same set-up, then typecheck (tsc, mypy), vitest and pytest (with the real
#               browser tests)
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.nbexplain-installed
BUNDLE  := nbexplain/static/widget.js
JS_SRC  := $(shell find js \( -name '*.ts' -o -name '*.css' \) -not -name '*.test.ts' 2>/dev/null) package.json tsconfig.json
CHROMIUM ?= /usr/bin/chromium
# pip's configured local indexes print one harmless line per package; keep the log readable
PIPFILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }
ROOTFLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
LAB_ARGS ?=

.PHONY: demo test setup js chromium clean docs-assets FORCE
.DEFAULT_GOAL := test

demo: setup
	$(VENV)/bin/jupyter lab $(ROOTFLAG) $(LAB_ARGS) notebooks/quickstart.ipynb

test: setup chromium
	npm run typecheck
	$(PY) -m mypy
	npm test
	$(PY) -m pytest -ra --basetemp=.pytest_tmp $(PYTEST_ARGS)

setup: $(STAMP) $(BUNDLE)

$(PY):
	python3 -m venv $(VENV)

# Everything pinned in one file (torch==2.13.0 is the CPU wheel pip finds locally). The stamp
# holds a hash of what it installed, so a reused folder whose .venv predates a change of the
# pins installs again, whatever the files' times; a failing pip fails the make.
DEPS_HASH = $(shell cat requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
$(STAMP): $(PY) FORCE
	@if [ "$$(cat $@ 2>/dev/null)" != "$(DEPS_HASH)" ]; then \
	  set -eo pipefail; \
	  echo "installing requirements-dev.txt and nbexplain (editable) into $(VENV)"; \
	  $(PY) -m pip install -q -r requirements-dev.txt 2>&1 | $(PIPFILTER); \
	  HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(PY) -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | $(PIPFILTER); \
	  echo "$(DEPS_HASH)" > $@; \
	fi

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

$(BUNDLE): node_modules/.package-lock.json $(JS_SRC)
	npm run build

js: $(BUNDLE)

# The README's pictures, made by a browser test (docs/assets/widget.png, widget-ig-steps.gif)
docs-assets: setup chromium
	NBEXPLAIN_DOCS_ASSETS=docs/assets $(PY) -m pytest -q tests/ui/test_docs_pictures.py --basetemp=.pytest_tmp

# Debian's chromium for the browser tests (never `playwright install`: it downloads).
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; \
	fi
	@test -x "$(CHROMIUM)"

FORCE:

clean:
	rm -rf $(VENV) node_modules nbexplain/static .pytest_tmp dist build
