# Two commands matter: `make demo` runs the whole local pipeline, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install system-deps browser-deps demo-deps kafka-up kafka-down topics test test-unit demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install the locked versions with the test extras (quick when nothing changed)

# requirements.lock pins every package with hashes; its header says how to update it.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	@touch $@

# command:Debian package pairs; `make demo` needs the broker's, the tests also drive a browser and Prometheus.
DEMO_DEPS := java:openjdk-17-jre-headless mvn:maven prometheus:prometheus
TEST_DEPS := $(DEMO_DEPS) promtool:prometheus chromium:chromium chromedriver:chromium-driver npm:npm

define apt_install_missing
	@missing=""; \
	for pair in $(1); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system-deps:  ## Debian packages the tests drive: Java+Maven (broker), chromium (browser tests), prometheus
	$(call apt_install_missing,$(TEST_DEPS))

demo-deps:
	$(call apt_install_missing,$(DEMO_DEPS))

kafka-up: install  ## start the local Kafka broker (jars from Maven Central on first run) and create the topics
	$(VENV)/bin/sentiment-kafka start
	$(VENV)/bin/sentiment-kafka create-topics

kafka-down:  ## stop the local Kafka broker
	$(VENV)/bin/sentiment-kafka stop

# axe-core (the browser tests' accessibility checks), the version pinned in tests/dashboard/package-lock.json.
AXE := tests/dashboard/node_modules/axe-core/axe.min.js
$(AXE): tests/dashboard/package.json tests/dashboard/package-lock.json
	cd tests/dashboard && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

browser-deps: system-deps $(AXE)  ## Debian's chromium and chromedriver, and axe-core from npm for the accessibility tests

test: install system-deps browser-deps  ## run the whole suite against a real broker (started and stopped by the suite)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install  ## only the fast tests that need no broker
	$(PY) -m pytest -m "not integration and not browser and not slow" $(PYTEST_ARGS)

demo: install demo-deps  ## the whole local pipeline: broker, consumer, dashboard, and a replay of real reviews
	$(PY) -m producer.demo

clean:  ## remove the virtualenv, caches and the local broker's data
	-$(VENV)/bin/sentiment-kafka stop
	rm -rf $(VENV) .cache .pytest_cache test-output tests/dashboard/node_modules
