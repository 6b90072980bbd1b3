// Command snpemu stands in for the AMD SEV-SNP security processor when QEMU runs
// without SNP hardware: it keeps an emulated ARK/ASK/VCEK chain and answers the
// guest's report requests over a virtio-serial port. Logic lives in package emu.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `usage:
  snpemu init  --state DIR [--product Milan|Genoa|Turin] [--force]
  snpemu serve --state DIR --socket PATH (--ovmf F [--kernel K --initrd I --append S] | --measurement HEX)
               [--vcpus N] [--vcpu-type T] [--guest-features 0x21] [--vmm-type qemu]
               [--debug] [--migration-agent] [--lower-tcb] [--product LINE] [--vmpl N] [--wrong-report-data]

init creates an emulated AMD chain in DIR (ark.pem, ask.pem, vcek.pem, their keys,
cert_chain.pem for a key broker's trusted roots, state.json). It refuses to replace
an existing chain unless --force is given.

serve measures the launch from the same inputs QEMU is given (or takes --measurement)
and answers report requests on the unix socket PATH. Start it before QEMU, then run
QEMU with:

  -chardev socket,path=PATH,id=snp -device virtio-serial -device virtserialport,chardev=snp,name=cvminit.snp

(add ,reconnect=1 to the chardev — ,reconnect-ms=1000 on QEMU >= 9.2 — to survive an
emulator restart). The misbehaviour flags make deliberately bad reports for tests:
--debug (POLICY bit 19), --migration-agent (bit 18), --lower-tcb (TCB below the VCEK's),
--product (another product line in CPUID), --vmpl (claim another VMPL),
--wrong-report-data (sign other REPORT_DATA than requested).

Reports from snpemu verify only against its own chain, never against AMD's roots.
`

// usageError is an error that is the caller's fault (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one sub-command until it finishes or ctx ends and returns the
// exit status: 0 ok, 1 failure, 2 usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	var err error
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return 0
	case "init":
		err = runInit(args[1:], stdout)
	case "serve":
		err = runServe(ctx, args[1:], stderr)
	default:
		err = usagef("unknown command %q (try snpemu --help)", args[0])
	}
	return exitStatus(err, stdout, stderr)
}

func exitStatus(err error, stdout, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usageText)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "snpemu: %v\n", ue)
		return 2
	default:
		fmt.Fprintf(stderr, "snpemu: %v\n", err)
		return 1
	}
}

// newFlags returns a quiet flag set: parse errors come back as one line.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}
