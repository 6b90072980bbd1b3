//go:build linux

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent"
	"github.com/cvminit/cvminit/agent/klog"
)

// boot runs one VM and checks what every boot must satisfy: the guest
// powered off by itself before the timeout and the disk key never
// appeared on the serial console.
func boot(t *testing.T, e *Env, name string, o BootOptions) *Result {
	t.Helper()
	r, err := e.Boot(context.Background(), name, o)
	if err != nil {
		t.Fatalf("boot %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial log %s, last lines:\n%s", r.SerialLog, lastLines(r.Lines, 40))
		}
	})
	t.Logf("boot %s: %v, powered off %v", name, r.Elapsed.Round(time.Millisecond), r.PoweredOff)
	if !r.PoweredOff {
		t.Errorf("QEMU did not exit by itself (timed out %v, exit %v)", r.TimedOut, r.Exit)
	}
	if leaks := Leaks(r.Raw, e.Key); len(leaks) > 0 {
		t.Errorf("the disk key appears on the serial console as %v", leaks)
	}
	for _, name := range []string{"broker.log", "audit.jsonl"} { // absent when no broker ran
		if b, err := os.ReadFile(filepath.Join(filepath.Dir(r.SerialLog), name)); err == nil {
			if leaks := Leaks(b, e.Key); len(leaks) > 0 {
				t.Errorf("the disk key appears in the broker's %s as %v", name, leaks)
			}
		}
	}
	return r
}

func wantOK(t *testing.T, r *Result) klog.Status {
	t.Helper()
	st, line, err := FinalStatus(r.Lines)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK {
		t.Fatalf("status %q, want OK", line.Text)
	}
	wantSteps(t, r, lastStep, klog.StepOK)
	if st.Root != "/dev/mapper/root" || st.Init != "/sbin/init" {
		t.Errorf("status root=%q init=%q, want /dev/mapper/root and /sbin/init", st.Root, st.Init)
	}
	t.Logf("OK after %v of QEMU, %d ms in cvminit; steps %s", line.At.Round(time.Millisecond), st.TotalMS,
		stepSummary(r))
	return st
}

func wantFail(t *testing.T, r *Result, code klog.Code, step string) (klog.Status, Line) {
	t.Helper()
	st, line, err := FinalStatus(r.Lines)
	if err != nil {
		t.Fatal(err)
	}
	if st.OK || st.Code != code || st.Step != step {
		t.Fatalf("status %q, want FAIL code=%s step=%s", line.Text, code, step)
	}
	wantSteps(t, r, step, klog.StepFail)
	return st, line
}

// wantOSUp checks that the confidential OS ran after the status line and
// printed the secret that exists only on the encrypted disk.
func wantOSUp(t *testing.T, e *Env, r *Result) {
	t.Helper()
	texts := lineTexts(r.Lines)
	_, status, _ := FinalStatus(r.Lines)
	st := slices.Index(texts, status.Text)
	up := slices.Index(texts, OSMarker)
	secret := slices.Index(texts, SecretPrefix+e.Secret)
	if st < 0 || up <= st || secret <= up {
		t.Errorf("status, %q and %q lines missing or out of order (lines %d, %d, %d)", OSMarker,
			SecretPrefix+e.Secret, st, up, secret)
	}
	if !slices.Contains(texts, WritableOK) {
		t.Errorf("the confidential OS could not write to /etc, /var and /tmp (no %q line)", WritableOK)
	}
	if !slices.Contains(texts, AESNIOK) {
		t.Errorf("the root disk's xts(aes) is not AES-NI's alone (no %q line)", AESNIOK)
	}
	if want := KmsgLimitPrefix + kmsgLimit(texts); !slices.Contains(texts, want) {
		t.Errorf("the confidential OS did not get the kernel log's rate limit back (no %q line)", want)
	}
}

// kmsgLimit is the kernel.printk_devkmsg the kernel starts with: that of
// printk.devkmsg= on its command line (the kernel's "Command line:" line),
// else the default, "ratelimit".
func kmsgLimit(texts []string) string {
	for _, l := range texts {
		if _, cmdline, ok := strings.Cut(l, "Command line: "); ok {
			for _, w := range strings.Fields(cmdline) {
				if v, ok := strings.CutPrefix(w, "printk.devkmsg="); ok {
					return v
				}
			}
			break
		}
	}
	return "ratelimit"
}

// wantBlob checks whether the confidential OS read BlobPath whole (ok) or
// got an error reading it.
func wantBlob(t *testing.T, r *Result, ok bool) {
	t.Helper()
	texts := lineTexts(r.Lines)
	want, not := BlobOK, BlobFailed
	if !ok {
		want, not = not, want
	}
	if !slices.Contains(texts, want) || slices.Contains(texts, not) {
		t.Errorf("the confidential OS did not print %q (or printed %q)", want, not)
	}
}

// wantNoOS checks that no switch_root happened: neither the OS marker nor
// the secret from the encrypted disk appears anywhere.
func wantNoOS(t *testing.T, e *Env, r *Result) {
	t.Helper()
	for _, s := range []string{OSMarker, e.Secret} {
		if bytes.Contains(r.Raw, []byte(s)) {
			t.Errorf("serial output contains %q: the confidential OS ran", s)
		}
	}
}

// wantSteps checks the step lines: every step of the boot table before
// until ended ok, in order, each exactly once, and then until ended with
// status last (no line when last is ok: the switch_root step does not
// return); no later step ran.
func wantSteps(t *testing.T, r *Result, until, last string) {
	t.Helper()
	var want []string
	for _, st := range agent.Steps() {
		if st.Name == until {
			if last != klog.StepOK {
				want = append(want, st.Name+"="+last)
			}
			break
		}
		want = append(want, st.Name+"="+klog.StepOK)
	}
	var got []string
	for _, s := range Steps(r.Lines) {
		got = append(got, s.Name+"="+s.Status)
	}
	if !slices.Equal(got, want) {
		t.Errorf("step lines %v, want %v", got, want)
	}
}

func stepResult(r *Result, name string) (klog.StepResult, bool) {
	for _, s := range Steps(r.Lines) {
		if s.Name == name {
			return s, true
		}
	}
	return klog.StepResult{}, false
}

func stepSummary(r *Result) string {
	var b strings.Builder
	for _, s := range Steps(r.Lines) {
		b.WriteString(s.Name + "=" + strconv.FormatInt(s.MS, 10) + "ms ")
	}
	return strings.TrimSpace(b.String())
}

func lineTexts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func lastLines(lines []Line, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lineTexts(lines), "\n")
}
