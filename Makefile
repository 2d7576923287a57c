# concentratord — developer and CI entry points.
#
#   make run        set up (if needed) and run the main job: the decode demo
#   make test       set up (if needed) and run the test suite (CI runs exactly this)
#   make setup      Debian packages (when missing) + .venv/ with the package installed editable
#   make lint       ruff check, ruff format --check, mypy --strict on the five packages
#   make bench      the benchmark scenarios (bench/)
#   make fuzz-long  the fuzz tests with $(FUZZ_ITERATIONS) iterations
#   make clean      caches and build outputs;  make distclean  also removes .venv/
#
# `make setup` is idempotent: apt runs only when a package is missing, pip only when
# pyproject.toml is newer than the install stamp (or the venv is new).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV            := .venv
PY              := $(VENV)/bin/python
STAMP           := $(VENV)/.concentratord-installed
APT_PACKAGES    := python3-venv mosquitto mosquitto-clients chromium chromium-driver
PYTHON          ?= python3
FUZZ_ITERATIONS ?= 1000000

# The one test command. `make test` runs it and .ci/run runs `make test`, so they cannot
# drift apart. pytest's exit code 5 ("no tests collected") fails like any other non-zero code.
PYTEST := $(PY) -m pytest -q

.PHONY: help setup system-deps test lint run bench fuzz-long clean distclean deb

help:
	@sed -n '3,10p' Makefile | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------------------------- setup

setup: system-deps $(STAMP)

# Debian packages: python3-venv (for `python3 -m venv`), mosquitto and mosquitto-clients
# (the tests start a real broker), chromium and chromium-driver (the web page's browser
# tests). apt-get update + install only when one is missing;
# without root (or without dpkg) apt is skipped with a message, never silently.
system-deps:
	@missing=""; \
	if ! command -v dpkg-query >/dev/null 2>&1; then \
		echo "setup: dpkg-query not found (not Debian?): install $(APT_PACKAGES) yourself" >&2; \
		exit 0; \
	fi; \
	for p in $(APT_PACKAGES); do \
		[ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null)" = "install ok installed" ] \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "setup: Debian packages present ($(APT_PACKAGES))"; \
	elif [ "$$(id -u)" -ne 0 ]; then \
		echo "setup: NOT root, skipping apt-get; missing Debian packages:$$missing" >&2; \
		echo "setup: run as root:  apt-get update && apt-get install -y$$missing" >&2; \
	else \
		echo "setup: installing Debian packages:$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq; \
		apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The venv. Order-only on system-deps: python3-venv must be there before `python3 -m venv`,
# but a (phony) system-deps run must not force a reinstall.
# A failed venv creation (e.g. no ensurepip) leaves a half venv: remove it so the next run
# starts over instead of finding a python without pip.
$(PY): | system-deps
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@
	@echo "setup: $(VENV)/ ready; console scripts in $(VENV)/bin/ (concentratord, concentratorctl)"

# ---------------------------------------------------------------------------------- checks

test: setup
	@echo "+ $(PYTEST)"; rc=0; $(PYTEST) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test: pytest collected no tests (exit 5): that is a failure" >&2; fi; \
	exit $$rc

# All three run even when one fails, so that one CI log shows every problem.
lint: setup
	@rc=0; \
	echo "+ ruff check ."; $(VENV)/bin/ruff check . || rc=1; \
	echo "+ ruff format --check ."; $(VENV)/bin/ruff format --check . || rc=1; \
	echo "+ mypy --strict (packages from [tool.mypy] in pyproject.toml)"; \
	$(VENV)/bin/mypy --strict || rc=1; \
	exit $$rc

fuzz-long: setup
	CONCENTRATORD_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(PY) -m pytest -q -o timeout=0 -k fuzz

# ---------------------------------------------------------------------------------- jobs

run: setup
	bash scripts/run-demo.sh

bench: setup
	$(PY) -m bench

# The Debian package: dist/concentratord_<version>_<arch>.deb with its own venv under
# /opt/concentratord (packaging/build-deb.sh says how, and why <arch> is the build machine's;
# docs/install.md). Needs Debian's python3 with python3-venv and dpkg-deb, not .venv/.
# `bash packaging/check-deb.sh dist/concentratord_*.deb` installs, checks and removes it.
deb:
	bash packaging/build-deb.sh dist

# ---------------------------------------------------------------------------------- clean

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
