// Command cvmctl is the operator's tool: it measures launch digests, verifies
// SNP reports and (later) builds initramfs images and seals disks.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one cvmctl sub-command. run gets the arguments after its name and
// returns the process exit code (0 ok, 1 failure, 2 usage).
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"measure":   {"compute the SEV-SNP launch digest (--pcrs: the vTPM PCRs cvminit leaves)", runMeasure},
		"initramfs": {"build the reproducible cvminit initramfs (initramfs build ...)", runInitramfs},
		"report":    {"verify an SNP attestation report (report verify ...)", runReport},
		"probe":     {"play a guest against a key broker through the SNP emulator", runProbe},
		"disk":      {"check a LUKS2 disk image the way the guest does, or print its broker payload (disk check|identity ...)", runDisk},
		"seal":      {"seal a rootfs (directory or tar) into a verity + LUKS2 disk image and its broker resource", runSeal},
		"timeline":  {"draw a boot's step lines from a serial log as an SVG time line (--baseline: compare two boots)", runTimeline},
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		return 2
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cvmctl: unknown command %q (try cvmctl help)\n", args[0])
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: cvmctl <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}
