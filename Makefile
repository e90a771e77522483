# runsc-cri — build, demo, test and benchmark.
#
#   make demo    install deps, build, assemble the busybox rootfs, run a few commands in the sandbox
#   make test    everything CI checks (vet, gofmt, unit tests, -race, integration tests)
#   make bench   native vs sandbox benchmark table (Markdown, for the README)
#
# Needs Go (go.mod's version; /usr/local/go/bin is searched) and, for deps,
# Debian bookworm as root.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT ?= $(dir $(GO))gofmt
OUT := out
BIN := $(OUT)/runsc-cri
ROOTFS := $(OUT)/rootfs-busybox

# Debian packages the project needs at run time. Add containernetworking-plugins
# here when pod networking lands.
DEB_PACKAGES := busybox-static
# Debian packages the tests need as well (static C test programs, host
# programs run in the sandbox, unshare/chroot for the native runs).
TEST_DEB_PACKAGES := gcc libc6-dev python3 util-linux coreutils containernetworking-plugins iptables nginx-light

# Packages whose tests are pure Go and cheap enough to run under -race: every
# package except those matched here (they start ptrace/KVM sandboxes, whose
# tests are slow and root-heavy under -race, or are the integration tests).
RACE_EXCLUDE := /platform/ptrace|/platform/kvm|/sentry/boot|/cmd/|/test/
RACE_PKGS = $(shell $(GO) list ./... | grep -vE '$(RACE_EXCLUDE)')
UNIT_PKGS = $(shell $(GO) list ./... | grep -v '/test/integration')

UNIT_TIMEOUT := 6m
RACE_TIMEOUT := 6m
INTEGRATION_TIMEOUT := 15m
# RUN selects integration cases: make integration RUN='TestBusybox/pipes'
RUN ?= .

.PHONY: all build deps test-deps rootfs demo test vet fmt-check unit race race-list integration bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/runsc-cri

deps:
	@scripts/deps.sh $(DEB_PACKAGES)

test-deps: deps
	@scripts/deps.sh $(TEST_DEB_PACKAGES)

rootfs: deps
	$(GO) run ./test/cmd/mkrootfs $(ROOTFS)

demo: deps build rootfs
	@scripts/demo.sh $(BIN) $(ROOTFS)

test: test-deps vet fmt-check unit race integration

vet:
	$(GO) vet ./...

fmt-check:
	@files=$$(find . -name '*.go' -not -path './out/*' -not -path './.git/*' -print0 | xargs -0 $(GOFMT) -l); \
	if [[ -n "$$files" ]]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi

unit:
	$(GO) test -timeout $(UNIT_TIMEOUT) $(UNIT_PKGS)

race-list:
	@echo $(RACE_PKGS) | tr ' ' '\n'

race:
	$(GO) test -race -timeout $(RACE_TIMEOUT) $(RACE_PKGS)

# The integration tests build runsc-cri and the rootfs themselves (or use
# $$RUNSC_CRI); they need root and skip without it.
integration: test-deps
	$(GO) test -count=1 -timeout $(INTEGRATION_TIMEOUT) -run '$(RUN)' ./test/integration/ $(if $(V),-v)

bench: test-deps build
	$(GO) run ./test/bench -runsc $(BIN)
	RUNSC_CRI_BENCH_PODS=1 RUNSC_CRI_BINARY=$(abspath $(BIN)) $(GO) test ./cri -run '^TestPodBench$$' -count=1 -v
	RUNSC_CRI_BENCH_PODS=1 RUNSC_CRI_BENCH_CNI=1 RUNSC_CRI_BINARY=$(abspath $(BIN)) $(GO) test ./cri -run '^TestPodBench$$' -count=1 -v

clean:
	rm -rf $(OUT)
