# The two commands: `make run` and `make test`. Everything else is a helper of theirs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check --no-input
STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
SYS_STAMP := var/.system-packages

.PHONY: install install-dev system-deps browser-deps run test lint typecheck bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --require-hashes --no-deps -r requirements.lock
	@touch $@

install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(PIP) install -q --require-hashes --no-deps -r requirements-dev.lock
	@touch $@

# Debian packages the integration tests start for real: rsyslog (syslog sink), redis-server
# (shared pseudonym vault), nats-server (JetStream sink), chromium + chromedriver (co-browse).
SYSTEM_BINARIES := rsyslogd redis-server redis-cli nats-server chromium chromedriver curl
SYSTEM_PACKAGES := rsyslog redis-server redis-tools nats-server chromium chromium-driver curl
system-deps: $(SYS_STAMP)

$(SYS_STAMP):
	@mkdir -p var
	@missing=0; for b in $(SYSTEM_BINARIES); do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$b >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi
	@touch $@

# npm packages of the co-browse browser test (rrweb, served to the test page from node_modules),
# exactly as tests/browser/package-lock.json pins them; Debian's nodejs + npm if missing.
BROWSER_STAMP := tests/browser/node_modules/.installed
browser-deps: $(BROWSER_STAMP)

$(BROWSER_STAMP): tests/browser/package.json tests/browser/package-lock.json
	@command -v npm >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	cd tests/browser && npm ci --no-audit --no-fund --prefer-offline --loglevel=error
	@touch $@

# `PORT=8081 ADMIN_PORT=9091 make run` (also HOST, WORKERS, CONFIG): each flag is passed only when
# set, so config/proxy.yaml's listen section and the CPU count stay the defaults.
CONFIG ?= config/proxy.yaml
SERVE_FLAGS = --config $(CONFIG) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) \
	$(if $(ADMIN_PORT),--admin-port $(ADMIN_PORT)) $(if $(WORKERS),--workers $(WORKERS))

run: install
	@if [ -z "$$PSEUDONYM_KEY" ]; then \
	  echo "make run: PSEUDONYM_KEY is unset; using an insecure development key (never do this in production)"; \
	fi; \
	if [ -z "$$VAULT_KEY" ]; then \
	  echo "make run: VAULT_KEY is unset; using an insecure development vault key (never do this in production)"; \
	fi; \
	PSEUDONYM_KEY="$${PSEUDONYM_KEY:-dev-only-insecure-key}" \
	VAULT_KEY="$${VAULT_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}" \
	exec $(PY) -m proxy serve $(SERVE_FLAGS)

lint: install-dev
	$(VENV)/bin/ruff format --check proxy recognizers tests benchmarks
	$(VENV)/bin/ruff check proxy recognizers tests benchmarks

typecheck: install-dev
	$(VENV)/bin/mypy

test: install-dev system-deps browser-deps lint typecheck
	$(PY) -m pytest -q

bench: install-dev
	$(PY) -m benchmarks.run

lock:
	$(PIP) install -q pip-tools
	$(VENV)/bin/pip-compile --generate-hashes --strip-extras --allow-unsafe -q -o requirements.lock requirements.in
	$(VENV)/bin/pip-compile --generate-hashes --strip-extras --allow-unsafe -q -o requirements-dev.lock requirements-dev.in

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache
