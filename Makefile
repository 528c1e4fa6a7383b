# iGot — `make run` starts the standalone server, `make test` runs every check on real infrastructure.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test lint infra infra-down bench venv clean

# What `make run` needs: iGot and its runtime dependencies, nothing for development.
$(RUNTIME): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing iGot into $(VENV) (first run only)"
	@$(PIP) -e .
	@touch $(RUNTIME)

# Tests, linters and benchmarks on top.
$(STAMP): $(RUNTIME)
	@$(PIP) -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Standalone mode: every service in one process, SQLite under IGOT_DATA_DIR, http://127.0.0.1:8080
run: $(RUNTIME)
	@IGOT_LOG_FORMAT=$${IGOT_LOG_FORMAT:-console} $(VENV)/bin/igot standalone

## RabbitMQ and the MongoDB-compatible server, installed when missing and started when stopped
infra: $(STAMP)
	bash scripts/infra.sh up

infra-down:
	bash scripts/infra.sh down

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## The whole suite: lint, then unit, contract, integration and end-to-end tests
test: infra lint
	$(PY) -m pytest

## Push ingress in both modes against a bare aiohttp baseline; then pushes delivered to a (fake) Bark
## server end to end against a raw RabbitMQ publish+consume loop; then one push to a group link with
## 100,000 (weak) subscribers expanded by fanout, against the store's bulk insert rate; then the moderation
## lexicon (20,000 words) scanning 30 MB of mixed Chinese and English text, normalisation included
bench: infra
	$(PY) -m bench.run
	$(PY) -m bench.delivery
	$(PY) -m bench.fanout
	$(PY) -m bench.moderation

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
