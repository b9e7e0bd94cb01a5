# corral: one binary, three test tiers. See README.md.
SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO      ?= go
BIN     ?= bin/corral
MODULE  := corral
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X $(MODULE)/version.Version=$(VERSION)
# Extra flags for `make run`, e.g. make run ARGS='--data-dir /tmp/corral --disable-agent'
ARGS       ?=
# Extra flags for `make bench`, e.g. make bench BENCH_ARGS='-pods 500'
BENCH_ARGS ?=

UNIT_TIMEOUT        ?= 10m
INTEGRATION_TIMEOUT ?= 20m
E2E_TIMEOUT         ?= 20m

.PHONY: build run deps test vet test-unit test-integration test-e2e bench fmt generate clean

## build: compile bin/corral from ./cmd/corral
build:
	@mkdir -p $(dir $(BIN))
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/corral

## deps: install the Debian packages tests and `run` use (as root; otherwise lists what is missing)
deps:
	./scripts/install-deps.sh

## run: deps + build + a single-node cluster (`corral server`, data in /var/lib/corral as root)
run: deps build
	./$(BIN) server $(ARGS)

## test: deps, vet, unit (-race), integration, end to end (if test/e2e has Go files)
test: deps
	$(MAKE) --no-print-directory vet
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-integration
	$(MAKE) --no-print-directory test-e2e

vet:
	$(GO) vet ./...

# Unit tier: every package except test/... and bench/.
test-unit:
	pkgs="$$($(GO) list ./... | grep -Ev '^$(MODULE)/(test|bench)(/|$$)')"; \
	$(GO) test -race -count=1 -timeout $(UNIT_TIMEOUT) $$pkgs

test-integration:
	$(GO) test -count=1 -timeout $(INTEGRATION_TIMEOUT) ./test/integration/...

test-e2e:
	@if [[ -d test/e2e ]] && [[ -n "$$(find test/e2e -name '*.go' -print -quit)" ]]; then \
		echo "$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./test/e2e/..."; \
		$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./test/e2e/...; \
	else \
		echo "test-e2e: no Go files under test/e2e, skipping"; \
	fi

## bench: build, then run the benchmarks; they write docs/benchmarks.md
bench: build
	$(GO) run ./bench -binary $(BIN) $(BENCH_ARGS)

## generate: regenerate api/openapi/zz_generated.openapi.go
generate:
	./scripts/gen-openapi.sh

fmt:
	$(GO) fmt ./...

clean:
	rm -rf bin
