# K8s Autopilot: every target installs what it needs into .venv from the lock file.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint lock bench k8s check-alerts clean browser

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8

# Bytecode at install: with PYTHONDONTWRITEBYTECODE set nothing is ever cached, and every
# command would compile checkov, pydantic and the rest from source (seconds per start).
$(STAMP): requirements.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes --compile-bytecode requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

demo: install
	rm -rf out/demo
	$(BIN)/python -m services.cli.demo

test: install lint browser
	$(BIN)/python -m pytest -q

# The review UI's browser tests drive Debian's chromium (Playwright downloads no browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; \
	  else \
	    echo "the browser tests need Debian's chromium: run 'sudo apt-get install -y chromium' (or make test as root)" >&2; \
	    exit 1; \
	  fi; }

lint: install
	$(BIN)/ruff check shared services tests bench k8s
	$(BIN)/ruff format --check shared services tests bench k8s
	$(BIN)/mypy shared services

bench: install
	$(BIN)/python bench/generate.py

# The project's own chart: k8s/autopilot.yaml generated, k8s/overlay/ added, validated (k8s/build.py).
k8s: install
	$(BIN)/python k8s/build.py

# Prometheus' own rule tester on the alert rules (needs promtool: apt-get install prometheus).
check-alerts:
	cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts.test.yml

clean:
	rm -rf $(VENV) out
