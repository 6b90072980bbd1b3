#!/usr/bin/env bash
# make demo: boot the confidential demo VM on this machine (run by the Makefile's demo target after
# deps-demo, build, assets and initramfs). The work is done by hack/e2e/demo (Go, reusing the e2e harness):
#   cvmctl seal the busybox confidential OS (ext4 + dm-verity inside LUKS2; fixed demo UUID, fresh random key),
#   cvmctl measure (AmdSev firmware + Debian kernel + build/initramfs.img + command line), a broker policy
#   pinning that digest, keybroker (testdata/demo TLS identity, DEMO ONLY) + snpemu, QEMU (TCG), the guest's
#   serial console streamed live, then a summary. Exits non-zero unless the guest booted the confidential OS.
# Flags are passed on: hack/demo.sh -ovmf boots stock OVMF.fd instead of SeaBIOS.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bin
CGO_ENABLED=0 go build -trimpath -o build/bin/demo ./hack/e2e/demo
exec build/bin/demo "$@"
