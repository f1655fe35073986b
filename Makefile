# idsync — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
# Every target builds, tests and lints with the Go go.mod names on its
# `toolchain` line (go1.27.3: the releases before it carry stdlib
# vulnerabilities `make lint` finds reachable); the go command fetches it
# through the module proxy when it is not the installed one. An exported
# GOTOOLCHAIN wins; the `go` line is the oldest Go that compiles the code.
export GOTOOLCHAIN ?= $(shell awk '$$1 == "toolchain" {print $$2}' go.mod)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/idsync/idsync/internal/version.Version=$(VERSION)
CMDS := idsync-agent idsync-hub idsyncctl
TEST_TIMEOUT ?= 25m

.DEFAULT_GOAL := help

.PHONY: help
help: ## show this help
	@echo "Go toolchain: $(GOTOOLCHAIN) (GOTOOLCHAIN; go.mod's toolchain line by default)"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build the three commands into bin/
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(CMDS))

.PHONY: build-windows
build-windows: ## cross-build the three commands for windows/amd64 into bin/windows/
	@mkdir -p bin/windows
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/windows/ $(addprefix ./cmd/,$(CMDS))

COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DIST_LDFLAGS := $(LDFLAGS) -X github.com/idsync/idsync/internal/version.Commit=$(COMMIT)
# os/arch pairs: the agent runs beside AD (Windows) or OpenLDAP (Linux); the
# hub and idsyncctl run on Linux.
AGENT_PLATFORMS := windows/amd64 linux/amd64 linux/arm64
HUB_PLATFORMS := linux/amd64 linux/arm64

.PHONY: dist
dist: ## release binaries into dist/<os>_<arch>/ (agent: windows, linux; hub, idsyncctl: linux) and dist/SHA256SUMS
	rm -rf dist
	@set -e; for p in $(AGENT_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		echo "idsync-agent $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' \
			-o dist/$${os}_$${arch}/ ./cmd/idsync-agent; done
	@set -e; for p in $(HUB_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		echo "idsync-hub idsyncctl $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' \
			-o dist/$${os}_$${arch}/ ./cmd/idsync-hub ./cmd/idsyncctl; done
	cd dist && sha256sum */* > SHA256SUMS
	@ls -l dist/*/

.PHONY: test-deps
test-deps: ## install the test servers from Debian packages when missing (slapd, samba-ad-dc, postgresql, chromium)
	@scripts/install-test-deps.sh

.PHONY: test
test: test-deps ## run every test, integration included (real slapd, Samba AD, PostgreSQL)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

.PHONY: test-short
test-short: ## run the unit tests alone (go test -short): no server, no e2e, under a minute
	$(GO) test -short ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each (default 5s; the seed corpora also run in `make test`)
	FUZZTIME=$(or $(FUZZTIME),5s) scripts/fuzz.sh

.PHONY: bench
bench: test-deps ## run the benchmarks and print their figures
	$(GO) run ./scripts/bench

# govulncheck's database, built offline from the golang.org/x/vulndb module
# go.mod requires, one directory per version (scripts/vulndb).
VULNDB_CACHE ?= .cache/vulndb

.PHONY: lint
lint: ## go vet, buf lint, govulncheck (linux, and windows for cmd/: database built offline from go.mod's x/vulndb)
	$(GO) vet ./...
	$(GO) tool buf lint
	@db=$$($(GO) run ./scripts/vulndb -cache $(VULNDB_CACHE)) && vc=$$($(GO) tool -n govulncheck) && \
	set -x && "$$vc" -db "file://$$db" ./... && \
	GOOS=windows "$$vc" -db "file://$$db" ./cmd/...

.PHONY: generate
generate: ## regenerate the protobuf and gRPC code (tools pinned in go.mod)
	$(GO) tool buf generate

.PHONY: checkgenerate
checkgenerate: generate ## fail when regenerating changes anything
	@if [ -n "$$(git status --porcelain -- proto)" ]; then \
		echo "generated code is out of date: run 'make generate' and commit" >&2; \
		git status --porcelain -- proto >&2; git diff --stat -- proto >&2; exit 1; fi

.PHONY: screenshot
screenshot: ## regenerate docs/console-overview.png, the README's console screenshot, from the console test's stack
	@scripts/install-test-deps.sh slapd chromium
	IDSYNC_SCREENSHOT=$(CURDIR)/docs/console-overview.png $(GO) test -count=1 -run 'TestConsole$$' ./e2e

.PHONY: demo
demo: ## local slapd with a generated directory, hub, agent and a full import (Ctrl-C stops all)
	@scripts/install-test-deps.sh slapd
	$(GO) run ./scripts/demo

.PHONY: clean
clean: ## remove build output
	rm -rf bin dist .demo .cache/vulndb
