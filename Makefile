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
