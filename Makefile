# ofa-mcu: set-up, demo and tests. `make demo` and `make test` work on a fresh clone: they create
# the virtual environment .venv, install the Python packages (torch pinned to the CPU build
# 2.13.0) and, when run as root, the Debian packages the firmware steps
# and the Fashion-MNIST data set need.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps
DEBIAN_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib \
	qemu-system-arm cmake chromium dataset-fashion-mnist
PYTEST_ARGS ?=

.PHONY: all install system-deps demo test lint bench clean

all: install

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[export,onnx,dev]'
	touch $@

install: $(STAMP) $(SYSTEM_STAMP)

# Debian packages: installed when missing and we are root; otherwise say what is missing
# (tests that need them then skip locally, and fail in CI where CI=true).
$(SYSTEM_STAMP): | $(STAMP)
	@missing=""; \
	for t in arm-none-eabi-gcc qemu-system-arm cmake chromium; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	[ -f /usr/lib/arm-none-eabi/include/stdlib.h ] || [ -f /usr/include/newlib/stdlib.h ] || missing="$$missing newlib"; \
	[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	  else \
	    echo "warning: missing$$missing (install: apt-get install $(DEBIAN_PACKAGES))"; exit 0; \
	  fi; \
	fi; touch $@

system-deps: $(SYSTEM_STAMP)

demo: install
	$(BIN)/ofa-mcu demo

test: install
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ofa_mcu tests benchmarks

bench: install
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
