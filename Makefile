# cvminit — build, test, demo. `make help` lists the targets.
SHELL      := /bin/bash
GO         ?= go
BUILD      := build
BIN        := $(BUILD)/bin
ASSETS     := $(BUILD)/assets
GOFLAGS_STATIC := -trimpath -buildvcs=false -ldflags='-s -w -buildid='
# No HTTP/2 in net/http: the guest's broker client speaks HTTP/1.1 over its own TLS config (Go would not
# negotiate h2 for it anyway) and the initramfs is 370 KB smaller; hack/e2e builds with the same tag.
GOTAGS := nethttpomithttp2
COMMANDS   := cvmctl keybroker snpemu cvminit
# Debian packages each target needs; hack/deps.sh installs the missing ones as
# root and prints the apt-get line otherwise.
PKGS_BUILD := ca-certificates
PKGS_TEST  := $(PKGS_BUILD) apt dpkg qemu-system-x86 qemu-utils cryptsetup-bin e2fsprogs erofs-utils debootstrap swtpm
PKGS_DEMO  := $(PKGS_TEST)

.PHONY: all help build test unit fuzz fuzz-corpus fuzz-short e2e lint demo initramfs bench assets deps-test deps-demo clean debug-tools

all: build

help:
	@echo "make build   static binaries into $(BIN)/"
	@echo "make test    lint + every test CI runs"
	@echo "make demo    build, seal a demo disk, start the broker and SNP emulator, boot the confidential VM under QEMU"
	@echo "make initramfs  build/initramfs.img from the committed demo config (reproducible)"
	@echo "make debug-tools  u-root core tools for debug images (cvmctl initramfs build --debug --debug-tools)"
	@echo "make bench   benchmarks against baselines (boot vs a baseline init + docs/boot-timeline.svg, launch digest, handshakes, unseal, seal)"
	@echo "make e2e     only the QEMU end-to-end boots (part of make test)"
	@echo "make fuzz-short  a short fuzz pass: the LUKS2 header guard 10s, every target 300 inputs (part of make test)"
	@echo "make fuzz    every fuzz target for FUZZTIME_ALL each (default 30s), memory bounded (FUZZ_MAX_RSS_MIB)"
	@echo "make fuzz-corpus  make fuzz, then copy each target's new corpus entries into its testdata/fuzz/"
	@echo "make lint    gofmt + go vet"
	@echo "make assets  fetch Debian kernel, OVMF and OVMF.amdsev into $(ASSETS)/"

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -tags $(GOTAGS) $(GOFLAGS_STATIC) -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

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

test: deps-test assets lint unit fuzz-short

# A short fixed-time fuzz pass: the LUKS2 header guard (the host writes that header) for FUZZTIME, then every
# fuzz target of the module for 300 inputs (hack/fuzz.sh; a count, not a time: a time shorter than the
# workers need to start fails with "context deadline exceeded" on a busy machine); make fuzz runs every target
# for FUZZTIME_ALL.
FUZZTIME ?= 10s
FUZZTIME_ALL ?= 30s
fuzz:
	@hack/fuzz.sh $(FUZZTIME_ALL)

fuzz-corpus:
	@FUZZ_SAVE_CORPUS=1 hack/fuzz.sh $(FUZZTIME_ALL)

fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./agent/disk/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckJSON$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 1s ./agent/disk/
	@hack/fuzz.sh 300x

# The QEMU boots alone (they are part of `make test` too).
e2e: deps-test assets
	$(GO) test -count=1 -v ./hack/e2e/

bench: assets
	@mkdir -p $(BUILD)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./initramfs/launch/ ./cmd/keybroker/... ./agent/disk/ | tee $(BUILD)/bench.txt
	$(GO) test -run '^$$' -bench Seal1GiB -benchtime 1x ./cmd/cvmctl/seal/ | tee -a $(BUILD)/bench.txt
	set -o pipefail; BENCH_TIMELINE=$(CURDIR)/docs/boot-timeline.svg BENCH_LOGDIR=$(CURDIR)/$(BUILD)/bench-boot \
	  $(GO) test -run '^$$' -bench '^BenchmarkBoot$$' -benchtime 1x -timeout 30m ./hack/e2e/ | tee -a $(BUILD)/bench.txt

assets: deps-test
	@hack/assets.sh $(ASSETS)

# build/initramfs.img from fixed inputs only (the static cvminit binary, the Debian kernel's modules, the
# committed demo config testdata/demo/cvminit.yaml): two clean builds are byte-identical.
DEMO_CONFIG := testdata/demo/cvminit.yaml
initramfs: build assets
	$(BIN)/cvmctl initramfs build --config $(DEMO_CONFIG) --init $(BIN)/cvminit \
	  --modules-dir $(ASSETS)/root/lib/modules/$$(cat $(ASSETS)/kernel-release) --output $(BUILD)/initramfs.img

# From nothing to the booted demo VM (hack/demo.sh runs hack/e2e/demo): seals a demo disk, measures, starts
# keybroker + snpemu, boots QEMU with build/initramfs.img and streams its serial console.
demo: deps-demo build assets initramfs
	@hack/demo.sh

# u-root core tools for debug images only (cvmctl initramfs build --debug --debug-tools $(DEBUG_TOOLS)):
# one static binary each (echo, cd, test, ... are gosh builtins); gosh is built with goshsmall (no line
# editor, no TUI dependencies).
DEBUG_TOOLS     := $(BUILD)/debug-tools
DEBUG_TOOL_CMDS := gosh ls cat cp rm mkdir dmesg ip mount umount ps lsmod hexdump poweroff
debug-tools:
	@rm -rf $(DEBUG_TOOLS) && mkdir -p $(DEBUG_TOOLS)
	CGO_ENABLED=0 $(GO) build -tags goshsmall $(GOFLAGS_STATIC) -o $(DEBUG_TOOLS)/ \
	  $(addprefix github.com/u-root/u-root/cmds/core/,$(DEBUG_TOOL_CMDS))
	@du -cb $(DEBUG_TOOLS)/* | tail -1

clean:
	rm -rf $(BUILD)
