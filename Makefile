# Two commands matter: `make demo` runs the whole local pipeline, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install system-deps browser-deps demo-deps kustomize k8s-validate manifests kafka-up kafka-down topics lint fmt test test-unit demo bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install the locked versions with the test extras (quick when nothing changed)

# requirements.lock pins every package with hashes; its header says how to update it.
# The editable install also compiles the fused engine's kernel in place (model/_fused_lstm*.so);
# the check after it fails the install when the kernel did not build (the Predictor would
# quietly serve with onnxruntime, 2x slower).
$(STAMP): pyproject.toml requirements.lock model/_fused_lstm.c
	$(call apt_install_missing,$(BUILD_DEPS))
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements.lock
	$(PIP) install --quiet --no-deps -e .
	$(PY) -c "from model import fused; assert fused.available(), 'the fused kernel did not build: see the pip output above'"
	@touch $@

# command:Debian package pairs; `make demo` needs the broker's, the tests also drive a browser and Prometheus.
# The install compiles one C file against Python's headers (python3-dev; a pyenv or python.org build has them).
BUILD_DEPS := cc:gcc $(if $(wildcard $(shell python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h),,python3-config:python3-dev)
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

# kustomize renders deploy/k8s; the version is pinned in one file and built from the Go module proxy into .cache/, once
# per version.
KUSTOMIZE_VERSION := $(shell cat deploy/k8s/KUSTOMIZE_VERSION)
KUSTOMIZE := .cache/kustomize/$(KUSTOMIZE_VERSION)/kustomize

kustomize: $(KUSTOMIZE)  ## build the pinned kustomize into .cache/kustomize/ (Go module proxy) when missing

# Go >= 1.21 fetches the toolchain a module's go.mod asks for by itself (GOTOOLCHAIN=auto).
define require_go
	@v=$$(go env GOVERSION 2>/dev/null | sed -E 's/^go1\.([0-9]+).*/\1/'); [ "$${v:-0}" -ge 21 ] 2>/dev/null || \
	  { echo "building $(1) needs Go >= 1.21 on PATH (https://go.dev/dl/; Debian 13: apt-get install golang-go)"; exit 1; }
endef

$(KUSTOMIZE):
	$(call require_go,kustomize)
	GOBIN=$(abspath $(dir $@)) GOTOOLCHAIN=auto go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# k8s-validate (deploy/k8s/validate) checks rendered objects with no cluster: built-in and Prometheus Operator kinds
# against their Go types (go.sum pins them), KEDA's against the CRDs of the KEDA release pinned beside it, taken
# from that release's Go module with its Kafka scaler's source (the tests read which trigger keys it knows).
K8S_VALIDATE := .cache/k8s-validate/k8s-validate
KEDA_VERSION := $(shell cat deploy/k8s/validate/KEDA_VERSION)
KEDA_CRDS := .cache/k8s-validate/keda-$(KEDA_VERSION)

k8s-validate: $(K8S_VALIDATE) $(KEDA_CRDS)  ## build the offline checker of rendered Kubernetes objects into .cache/k8s-validate/

$(KEDA_CRDS):
	$(call require_go,k8s-validate)
	dir=$$(GOTOOLCHAIN=auto go mod download -json github.com/kedacore/keda/v2@$(KEDA_VERSION) | \
	  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])') && \
	mkdir -p $@.tmp && cp $$dir/config/crd/bases/keda.sh_scaledobjects.yaml $$dir/config/crd/bases/keda.sh_triggerauthentications.yaml \
	  $$dir/pkg/scalers/kafka_scaler.go $@.tmp/ && \
	mv $@.tmp $@

$(K8S_VALIDATE): deploy/k8s/validate/main.go deploy/k8s/validate/go.mod deploy/k8s/validate/go.sum
	$(call require_go,k8s-validate)
	cd deploy/k8s/validate && GOTOOLCHAIN=auto go build -buildvcs=false -trimpath -o $(abspath $@) .

manifests: kustomize  ## print the example overlay's manifests (OVERLAY=deploy/k8s/base for the base alone)
	@$(KUSTOMIZE) build --enable-alpha-plugins --enable-exec $(or $(OVERLAY),deploy/k8s/overlays/example)

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

# pyproject.toml's [tool.ruff] and [tool.mypy] say what is checked; each of the three runs even when one before it failed.
lint: install  ## ruff (lint and format check) and mypy over every package
	@status=0; \
	$(VENV)/bin/ruff check --quiet || status=1; \
	$(VENV)/bin/ruff format --check --quiet || status=1; \
	$(VENV)/bin/mypy || status=1; \
	[ $$status = 0 ] || { echo "lint failed: run \`make fmt\` for ruff's fixes and formatting, then fix what remains by hand"; exit 1; }

# Formatting first wraps the long lines, so the fixes after it leave only what needs a hand; then again for their output.
fmt: install  ## apply ruff's fixes and its formatting to the tree
	$(VENV)/bin/ruff format --quiet
	$(VENV)/bin/ruff check --fix --quiet
	$(VENV)/bin/ruff format --quiet

test: install lint system-deps browser-deps kustomize k8s-validate  ## lint, then run the whole suite against a real broker (started and stopped by the suite)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install  ## only the fast tests that need no broker
	$(PY) -m pytest -m "not integration and not browser and not slow" $(PYTEST_ARGS)

demo: install demo-deps  ## the whole local pipeline: broker, consumer, dashboard, and a replay of real reviews
	$(PY) -m localkafka.demo

clean:  ## remove the virtualenv, caches and the local broker's data
	-$(VENV)/bin/sentiment-kafka stop
	rm -rf $(VENV) .cache .pytest_cache test-output tests/dashboard/node_modules
