// Package e2e is the QEMU harness of cvminit's end-to-end tests: it builds
// the real binaries, a tiny confidential OS (Debian busybox-static on ext4),
// LUKS2 disks made by cryptsetup on plain files, and the initramfs made by
// `cvmctl initramfs build`; it starts the real keybroker, snpemu and QEMU
// (TCG) as separate process groups and captures the guest's serial console
// line by line, so that the tests in this directory can assert on the
// status lines of DESIGN.md §5.
//
// Nothing in the boot path is mocked: QEMU boots the Debian kernel with the
// initramfs and disk built here, snpemu measures exactly those inputs with
// the AmdSev firmware, and the broker's policy pins the digest `cvmctl
// measure` predicts for them. QEMU itself boots its default firmware (or
// stock OVMF.fd): OVMF.amdsev.fd cannot direct-boot a kernel without SEV.
//
// The package drives external tools (qemu-system-x86_64, cryptsetup,
// mkfs.ext4, apt-get, dpkg-deb, go); ErrUnavailable marks a missing tool or
// asset so that callers can tell an unprepared machine from a failure.
//
// Running: `make assets` once (Debian kernel and firmware in build/assets),
// then `go test ./hack/e2e/` (also part of `go test ./...`). The first boot
// test builds the shared Env (binaries, disk, initramfs) in a temporary
// directory that is kept when a test fails. Environment variables read by
// the tests:
//
//	CI=true        a missing tool or asset fails the tests instead of skipping them
//	E2E_KEEP=1     keep the work directory (serial, broker and snpemu logs per boot)
//	E2E_OVMF=1     QEMU boots stock OVMF.fd instead of SeaBIOS (about 3 s slower)
//	E2E_CMDLINE=…  another kernel command line, e.g. adding cvminit.log=debug
//
// BenchmarkBoot (make bench) compares cvminit's boot with the baseline PID 1
// of hack/baseinit and reads BENCH_BOOTS (boots of each, default 9),
// BENCH_TIMELINE (write the SVG of the median boots there) and BENCH_LOGDIR
// (keep the median boots' serial logs there).
//
// `go test -short` skips the boots outside CI.
package e2e
