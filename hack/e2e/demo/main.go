//go:build linux

// Command demo is `make demo`: it boots the confidential demo VM end to end
// on this machine and explains what happened.
//
// It expects what the Makefile's demo target makes first: the static
// binaries in build/bin, the Debian assets in build/assets and
// build/initramfs.img (`make initramfs`, from the committed demo config
// testdata/demo/cvminit.yaml). It then builds the confidential OS (the e2e
// busybox OS) and seals it under a fresh random key with the config's fixed
// LUKS UUID, makes an emulated AMD chain, pins the launch digest `cvmctl
// measure` predicts in a broker policy, starts keybroker (the committed demo
// TLS identity, 127.0.0.1:8443) and snpemu, boots QEMU, streams the guest's
// serial console and prints a summary. It exits non-zero unless the guest
// printed `CVMINIT-STATUS v1 OK` and the confidential OS's marker and secret.
// Every process it starts is stopped on every exit path, Ctrl-C included.
//
// Usage (from the repository root): demo [-ovmf] [-work build/demo]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// exitInterrupted is the exit status after Ctrl-C or SIGTERM.
const exitInterrupted = 130

func main() {
	o := options{}
	flag.StringVar(&o.Work, "work", "build/demo", "work directory, emptied first")
	flag.BoolVar(&o.OVMF, "ovmf", false, "QEMU boots stock OVMF.fd instead of its default SeaBIOS (slower)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := run(ctx, os.Stdout, o)
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted {
		fmt.Fprintln(os.Stderr, "demo: interrupted; every helper process was stopped")
		os.Exit(exitInterrupted)
	}
	if errors.Is(err, errGuestFailed) {
		os.Exit(2)
	}
	os.Exit(1)
}
