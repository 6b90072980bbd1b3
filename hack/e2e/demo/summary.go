//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/cvminit/cvminit/hack/e2e"
)

// firmwareNote explains the one difference between the measured and the
// booted launch (DESIGN.md §6).
const firmwareNote = `Note on firmware: the emulated launch MEASURES the AmdSev firmware (OVMF.amdsev.fd) — what a real
SEV-SNP launch uses, with the table of kernel, initrd and command-line hashes it verifies — together
with exactly the kernel, initramfs and command line QEMU boots. QEMU under TCG, however, BOOTS its
default firmware (SeaBIOS; stock OVMF.fd with -ovmf): OVMF.amdsev.fd cannot direct-boot a kernel
without SEV, because nothing provides the hashes table there. On SNP hardware the two are the same file.`

// summary prints where everything is, the status line and the boot
// timeline, and returns the verdict.
func (d *demo) summary() error {
	verdict := d.verdict()
	w := d.out
	fmt.Fprintf(w, "\n== summary\n\nartifacts:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range d.artifacts() {
		fmt.Fprintf(tw, "  %s\t%s\n", a[0], a[1])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nstatus: %s\n", d.statusText())
	d.timeline(w)
	fmt.Fprintf(w, "\nhost stages:\n")
	for _, s := range d.steps {
		fmt.Fprintf(w, "  %6.1fs  %s\n", s.Took.Seconds(), s.Name)
	}
	fmt.Fprintf(w, "\n%s\n", firmwareNote)
	if verdict != nil {
		return verdict
	}
	fmt.Fprintf(w, "\ndemo: OK — cvminit attested, got the key, unlocked %s and switched to the confidential OS,\n"+
		"which printed %s and the disk-only secret %s\n", d.disk, e2e.OSMarker, d.secret)
	return nil
}

func (d *demo) artifacts() [][2]string {
	fw := "SeaBIOS (QEMU's default)"
	if d.o.OVMF {
		fw = d.layout.OVMF()
	}
	return [][2]string{
		{"binaries", filepath.Join(binDir, "{cvmctl,keybroker,snpemu,cvminit}")},
		{"kernel", d.layout.Kernel() + " (Debian " + d.layout.KernelRelease + ")"},
		{"firmware measured", d.layout.OVMFAmdSev()},
		{"firmware QEMU booted", fw},
		{"operator config", demoConfig},
		{"initramfs", initramfs + " " + fileFacts(initramfs)},
		{"confidential OS", d.tree + "/ (busybox tree, sealed by cvmctl seal)"},
		{"sealed disk", d.disk + " (LUKS2, UUID " + d.cfg.Disk.LUKSUUID + ")"},
		{"disk key payload", d.keyFile + " (broker resource " + d.cfg.Broker.Resource + ")"},
		{"emulated AMD chain", d.emu + "/"},
		{"launch digest", d.digest},
		{"broker policy", d.policy + " (DEMO ONLY: trusts the emulator's chain)"},
		{"broker TLS identity", demoDir + "/ (DEMO ONLY: its private key is public)"},
		{"logs", filepath.Join(d.bootDir, "{serial,broker,snpemu}.log")},
	}
}

// fileFacts is the size and SHA-256 of a file, or why they are unknown.
func fileFacts(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("(%d bytes = %.2f MiB, sha256 %s)", n, float64(n)/(1<<20), hex.EncodeToString(h.Sum(nil)))
}

func (d *demo) statusText() string {
	_, line, err := e2e.FinalStatus(d.res.Lines)
	switch {
	case err == nil:
		return line.Text
	case d.res.TimedOut:
		return fmt.Sprintf("none: the VM was killed after %s (%v)", e2e.DefaultBootTimeout, err)
	default:
		return fmt.Sprintf("none (%v)", err)
	}
}

// timeline prints the per-step times cvminit reported and when the status
// line arrived.
func (d *demo) timeline(w io.Writer) {
	fmt.Fprintf(w, "\nboot timeline (cvminit's step lines):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, s := range e2e.Steps(d.res.Lines) {
		fmt.Fprintf(tw, "  %s\t%s\t%d ms\t\n", s.Name, s.Status, s.MS)
	}
	tw.Flush()
	if st, line, err := e2e.FinalStatus(d.res.Lines); err == nil && st.OK {
		fmt.Fprintf(w, "  PID 1 → switch_root: %d ms (total_ms); status line %.1fs after QEMU started\n",
			st.TotalMS, line.At.Seconds())
	}
	fmt.Fprintf(w, "  VM ran %.1fs (QEMU start to exit)\n", d.res.Elapsed.Round(100*time.Millisecond).Seconds())
}
