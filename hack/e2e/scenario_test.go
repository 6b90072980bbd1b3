//go:build linux

package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// TestBoot runs the scenarios of issue 3 on one shared Env, each booting a
// real VM and asserting on the serial status lines. The scenarios that
// need the broker take turns on its port; the broker-down scenario waits
// out the guest's retries, so it runs alongside them (measured on 2 cores:
// a pair of boots took 19 s side by side and 24 s one after the other).
func TestBoot(t *testing.T) {
	e := requireEnv(t)
	t.Run("WithBroker", func(t *testing.T) {
		t.Parallel()
		for _, sc := range []struct {
			name string
			run  func(*testing.T, *Env)
		}{
			{"HappyPath", testHappyPath},
			{"InitramfsNotInPolicy", testInitramfsNotInPolicy},
			{"DiskSealedUnderOtherKey", testDiskSealedUnderOtherKey},
			{"ConsoleInputIgnored", testConsoleInputIgnored},
			{"HeaderCipherNull", testHeaderCipherNull},
			{"HeaderByteFlipped", testHeaderByteFlipped},
			{"FileDataFlipped", testFileDataFlipped},
			{"HashTreeFlipped", testHashTreeFlipped},
			{"TPMMeasured", testTPMMeasured},
		} {
			t.Run(sc.name, func(t *testing.T) { sc.run(t, e) })
		}
	})
	t.Run("BrokerNotRunning", func(t *testing.T) {
		t.Parallel()
		testBrokerNotRunning(t, e)
	})
	t.Run("PlaintextDisk", func(t *testing.T) { // its own broker port
		t.Parallel()
		testPlaintextDisk(t, e)
	})
	t.Run("FakeBroker", func(t *testing.T) { // its own broker port; waits out the retries
		t.Parallel()
		testFakeBroker(t, e)
	})
}

// lastStep is the step that does not return when it succeeds: it prints
// the OK status line and executes the new init.
const lastStep = "switchroot"

func testHappyPath(t *testing.T, e *Env) {
	r := boot(t, e, "happy", BootOptions{})
	if st := wantOK(t, r); st.TPM != "absent" {
		t.Errorf("without a TPM the status line says tpm=%q, want absent", st.TPM)
	}
	wantOSUp(t, e, r)
	wantBlob(t, r, true)
	// The broker put its decisions on record: one release of the disk key
	// to this launch digest.
	audit, err := os.ReadFile(filepath.Join(filepath.Dir(r.SerialLog), "audit.jsonl"))
	want := `"event":"resource","outcome":"released"`
	if err != nil || strings.Count(string(audit), want) != 1 || !strings.Contains(string(audit), e.Digest) {
		t.Errorf("audit log (%v) lacks exactly one release to %s:\n%s", err, e.Digest, audit)
	}
}

func testInitramfsNotInPolicy(t *testing.T, e *Env) {
	// One config value changed (and harmless): the launch digest differs
	// from the one the policy pins.
	initrd, err := e.Variant(context.Background(), "initramfs-unpinned.img", func(c *config.Config) {
		c.Broker.Attempts = config.DefaultAttempts - 1
	})
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, e, "unpinned", BootOptions{Initrd: initrd})
	wantFail(t, r, klog.CodeKeyRefused, "key")
	wantNoOS(t, e, r)
}

func testDiskSealedUnderOtherKey(t *testing.T, e *Env) {
	other := bytes.Clone(e.Key)
	other[0] ^= 0xff // a different key, same UUID: the host's own disk
	disk, err := e.SealWith(context.Background(), "disk-other-key.img", other)
	if err != nil {
		t.Fatal(err)
	}
	// The host-made header has its own salts and digest, so its identity
	// differs from the one the broker released with the key: refused
	// before the key is tried (SECURITY.md H2).
	r := boot(t, e, "other-key", BootOptions{Disk: disk})
	wantFail(t, r, klog.CodeDiskIdentityMismatch, "unlock")
	wantNoOS(t, e, r)
	if leaks := Leaks(r.Raw, other); len(leaks) > 0 {
		t.Errorf("the other disk key appears on the serial console as %v", leaks)
	}
}

func testBrokerNotRunning(t *testing.T, e *Env) {
	// The pinned config, but pointing at a port nobody listens on (the
	// pinned port is in use by the other scenarios' brokers).
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := e.Variant(context.Background(), "initramfs-no-broker.img", func(c *config.Config) {
		c.Broker.URL = "https://10.0.2.2:" + strconv.Itoa(port)
	})
	if err != nil {
		t.Fatal(err)
	}
	r := boot(t, e, "no-broker", BootOptions{Initrd: initrd, NoBroker: true})
	st, line := wantFail(t, r, klog.CodeBrokerUnreachable, "key")
	wantNoOS(t, e, r)
	key, ok := stepResult(r, "key")
	if !ok || key.Status != klog.StepFail {
		t.Fatalf("no failed key step line (got %+v)", key)
	}
	// The key fetch gives up within broker.timeout (plus 2 s for the
	// slowness of TCG), the whole boot within boot.deadline, and the guest
	// powers off promptly after its status line.
	if lim := e.Opts.KeyTimeout + 2*time.Second; time.Duration(key.MS)*time.Millisecond > lim {
		t.Errorf("key step took %d ms, want at most %v (broker.timeout %v)", key.MS, lim, e.Opts.KeyTimeout)
	}
	if line.At > e.Opts.Deadline {
		t.Errorf("status line %v after QEMU start, want within boot.deadline %v", line.At, e.Opts.Deadline)
	}
	if d := r.Elapsed - line.At; d > 10*time.Second {
		t.Errorf("guest powered off %v after its status line, want within 10s", d)
	}
	t.Logf("broker down: %s after %v (key step %d ms)", st.Code, line.At.Round(time.Millisecond), key.MS)
}

func testConsoleInputIgnored(t *testing.T, e *Env) {
	// Control characters (^C ^D ^Z ^\ ESC), an override attempt and shell
	// commands, typed again and again while the VM boots.
	input := []byte("\x03\x04\x1a\x1c\x1b[A garbage \xff\xfe init=/bin/sh rd.break\n/bin/sh\nreboot -f\n")
	r := boot(t, e, "console-input", BootOptions{Input: input})
	wantOK(t, r)
	wantOSUp(t, e, r)
	// No shell came up (busybox's banner, prompt or job-control warning).
	for _, s := range []string{"BusyBox v", "/ # ", "can't access tty"} {
		if bytes.Contains(r.Raw, []byte(s)) {
			t.Errorf("serial output contains %q: a shell ran", s)
		}
	}
	// Once cvminit runs, the console does not even echo the input: an echo
	// lands in the middle of status lines and corrupts the protocol.
	if n := echoesAfterFirstStep(r.Lines, "garbage"); n > 0 {
		t.Errorf("typed input echoed %d times after cvminit's first step line (console ECHO left on)", n)
	}
}

// echoesAfterFirstStep counts the lines holding typed after the first step
// line.
func echoesAfterFirstStep(lines []Line, typed string) int {
	n, seen := 0, false
	for _, l := range lines {
		if _, ok := klog.ParseStep(l.Text); ok && !seen {
			seen = true
			continue
		}
		if seen && strings.Contains(l.Text, typed) {
			n++
		}
	}
	return n
}
