# cvminit — build, test, demo. `make help` lists the targets.
SHELL      := /bin/bash
GO         ?= go
BUILD      := build
BIN        := $(BUILD)/bin
ASSETS     := $(BUILD)/assets
GOFLAGS_STATIC := -trimpath -buildvcs=false -ldflags='-s -w -buildid='
COMMANDS   := cvmctl keybroker snpemu cvminit
# Debian packages each target needs; hack/deps.sh installs the missing ones as
# root and prints the apt-get line otherwise.
PKGS_BUILD := ca-certificates
PKGS_TEST  := $(PKGS_BUILD) apt dpkg qemu-system-x86 cryptsetup-bin e2fsprogs
PKGS_DEMO  := $(PKGS_TEST)

.PHONY: all help build test unit e2e lint demo bench assets deps-test deps-demo clean

all: build

help:
	@echo "make build   static binaries into $(BIN)/"
	@echo "make test    lint + every test CI runs"
	@echo "make demo    build, make an emulated SNP chain, start the broker and run an attested key release"
	@echo "make bench   benchmarks (launch digest, broker handshake vs raw verification)"
	@echo "make e2e     only the QEMU end-to-end boots (part of make test)"
	@echo "make lint    gofmt + go vet"
	@echo "make assets  fetch Debian kernel, OVMF and OVMF.amdsev into $(ASSETS)/"

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_STATIC) -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

deps-test:
	@hack/deps.sh $(PKGS_TEST)

deps-demo:
	@hack/deps.sh $(PKGS_DEMO)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

test: deps-test assets lint unit

# The QEMU boots alone (they are part of `make test` too).
e2e: deps-test assets
	$(GO) test -count=1 -v ./hack/e2e/

bench:
	@mkdir -p $(BUILD)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./initramfs/launch/ ./cmd/keybroker/... | tee $(BUILD)/bench.txt

assets: deps-test
	@hack/assets.sh $(ASSETS)

demo: deps-demo build assets
	@hack/demo.sh

clean:
	rm -rf $(BUILD)
