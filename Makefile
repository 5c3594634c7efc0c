# interview-streams. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
# Debian's python3.11 where there is one: built with PGO and LTO, as the Docker image's python:3.11-slim
# is; pyenv's build has neither and cost the worker ~5% more CPU per planning event (docs/performance.md, item 17).
PYTHON ?= $(or $(wildcard /usr/bin/python3.11),python3.11)
PYTHON_PATH := $(shell p=$$(command -v $(PYTHON)) && readlink -f "$$p")
VENV := .venv
PY := $(VENV)/bin/python
KAFKA_JARS := local_kafka/lib/.resolved
WEB_PORT ?= 6066
DATA_DIR ?= .worker-data

.PHONY: FORCE setup run test test-unit test-faults test-integration bench check format kafka-jars kafka-up kafka-down test-deps clean

# Rewritten only when the interpreter changes, and then the virtualenv is built anew on the new one.
$(VENV)/.interpreter: FORCE
	@test -n "$(PYTHON_PATH)" || { echo "need $(PYTHON)"; exit 1; }
	@if [ "$$(cat $@ 2>/dev/null)" != "$(PYTHON_PATH)" ]; then \
		rm -rf $(VENV) && mkdir -p $(VENV) && echo "$(PYTHON_PATH)" > $@; fi

$(VENV)/.installed: pyproject.toml $(VENV)/.interpreter
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## virtualenv with everything installed (idempotent)

$(KAFKA_JARS): local_kafka/pom.xml
	@command -v java >/dev/null && command -v mvn >/dev/null || { echo "need java 17 and maven"; exit 1; }
	rm -rf local_kafka/lib
	mvn -q -B -f local_kafka/pom.xml dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
	@touch $@

kafka-jars: $(KAFKA_JARS) ## Apache Kafka broker jars from Maven Central

kafka-up: setup kafka-jars ## reuse a broker that answers, else start a local KRaft broker
	$(PY) -m local_kafka.broker up

kafka-down: ## stop only the broker this project started
	$(PY) -m local_kafka.broker down

run: kafka-up ## broker (when none is configured) + one worker with its web server
	@$(PY) -m app.devrun --web-port $(WEB_PORT) --datadir $(DATA_DIR)

test-deps: ## Debian packages the integration tests drive (kcat, and chromium for the dashboard)
	@command -v kcat >/dev/null && command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat chromium >/dev/null; }

test: setup kafka-jars test-deps ## the whole suite; starts its own broker unless KAFKA_BROKER is set
	$(PY) -m pytest -q

test-unit: setup
	$(PY) -m pytest -q -m "not integration"

test-faults: setup kafka-jars test-deps ## only the fault suite (killed workers, lost data dir, broker restart, 1->2->1 workers, webhook 503s) and its summary table; also part of `make test`
	$(PY) -m pytest -q -s -m faults

bench: setup kafka-jars ## throughput, latency, SSE fan-out, lag endpoint, recovery; prints a table, writes bench/results.json
	$(PY) -m bench

check: setup ## format, lint, types
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(DATA_DIR) .pytest_cache .mypy_cache .ruff_cache
