# Portico: `make run` starts the gateway on its embedded default; `make test`
# runs every test. Everything a target needs is installed here, never by hand.

GO      ?= go
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null | sed 's/^v//' || true)
ifeq ($(VERSION),)
VERSION := $(shell cat VERSION)
endif
LDFLAGS := -X github.com/portico-gw/portico/internal/buildinfo.Version=$(VERSION)
BIN     := bin/portico

# Packages whose tests fork processes or share state across goroutines run
# under the race detector.
RACE_PKGS := ./ipc/... ./master/... ./worker/... ./internal/... ./privileged/...

.PHONY: all build run test test-deps test-unit test-integration bench lint clean
.PHONY: package package-deps package-test

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/portico

# Foreground on the checkout's prefix, with the embedded etcd.
run: build
	$(BIN) start --foreground -p $(CURDIR)

test: build test-unit test-integration

# Tools the tests call: openssl cross-checks the keyring's encryption.
test-deps:
	@command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }

test-unit: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 ./conf/... ./tmpl/... ./cmd/... ./resource/...
	$(GO) test -count=1 -race $(RACE_PKGS)

# Drives bin/portico as a user would: real processes, real etcd, loopback only.
test-integration: build
	PORTICO_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 12m ./test/integration/...

# Figures, not pass/fail: Go micro-benchmarks, then wrk against a real
# gateway (steady state, new connections, under reloads) and against nginx
# (installed here, as wrk is) for a ratio.
bench: build
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx-light; }
	$(GO) test -run '^$$' -bench . -benchmem ./ipc/... ./worker/...
	$(GO) run ./bench/load -bin $(BIN) -workers 1

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin dist

# Packages (issue 6): dist/portico_<version>_amd64.deb and dist/portico-<version>.x86_64.rpm,
# built by nfpm run from the Go module proxy at a pinned version (v2.46+ need modules the
# proxy does not serve here). `go run mod@version` keeps nfpm out of go.mod.
NFPM_VERSION ?= v2.45.0
NFPM        := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
DIST        ?= dist
DEB         := $(DIST)/portico_$(VERSION)_amd64.deb
RPM         := $(DIST)/portico-$(VERSION).x86_64.rpm

package:
	@mkdir -p $(DIST)
	@mkdir -p dist/stage
	$(GO) build -trimpath -ldflags "$(LDFLAGS) -s -w" -o dist/stage/portico ./cmd/portico
	PORTICO_VERSION=$(VERSION) $(NFPM) pkg -f packaging/nfpm.yaml -p deb -t $(DEB)
	PORTICO_VERSION=$(VERSION) $(NFPM) pkg -f packaging/nfpm.yaml -p rpm -t $(RPM)
	@ls -l $(DEB) $(RPM)

# Tools package-test calls: rpm reads the .rpm (rpm -qpil), logrotate runs the snippet.
package-deps:
	@command -v rpm >/dev/null && command -v logrotate >/dev/null || { apt-get update -qq && apt-get install -y -qq rpm logrotate; }

# Builds the package twice (VERSION, then VERSION+pkgtest1 as the upgrade), checks both
# formats' layout, conffiles and scripts, then installs, runs, upgrades under load,
# removes and purges the .deb inside a throw-away mount and network namespace
# (test/package). Needs root.
PKGTEST_DIST := $(CURDIR)/dist/pkgtest
package-test: package-deps
	rm -rf $(PKGTEST_DIST)
	$(MAKE) --no-print-directory package DIST=$(PKGTEST_DIST) VERSION=$(VERSION)
	$(MAKE) --no-print-directory package DIST=$(PKGTEST_DIST) VERSION=$(VERSION)+pkgtest1
	PORTICO_PKG_V1=$(VERSION) PORTICO_PKG_V2=$(VERSION)+pkgtest1 PORTICO_PKG_DIST=$(PKGTEST_DIST) \
		$(GO) test -count=1 -tags packagetest -timeout 5m -v -run '^TestPackage$$' ./test/package/
