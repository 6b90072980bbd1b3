package tpm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
)

// startSwtpm starts a fresh TPM 2.0 emulator (Debian swtpm) on a unix socket
// in a temporary directory, already initialized and started up (no TPM2_Startup
// needed), and returns a Device on it. The process is killed at test end.
func startSwtpm(t *testing.T) Device {
	t.Helper()
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("agent/tpm: swtpm not installed (Debian swtpm), required in CI: %v", err)
		}
		t.Skip("agent/tpm: swtpm not installed (Debian package swtpm); skipping TPM device tests")
	}
	dir := t.TempDir()
	sock, ctrl, state := filepath.Join(dir, "tpm.sock"), filepath.Join(dir, "ctrl.sock"), filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "swtpm.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "socket", "--tpm2",
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+ctrl,
		"--tpmstate", "dir="+state, "--flags", "not-need-init,startup-clear")
	cmd.Stdout, cmd.Stderr = out, out // a file: no copying goroutine
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting swtpm: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() }) // cancel kills the process
	waitSocket(t, sock, logPath)
	tr, err := linuxudstpm.Open(sock)
	if err != nil {
		t.Fatalf("connecting to swtpm: %v", err)
	}
	d := FromTransport(tr)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func waitSocket(t *testing.T, sock, logPath string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	t.Fatalf("swtpm socket %s did not appear within 5 s; output: %s", sock, out)
}

func TestSwtpmFreshPCRsAreZero(t *testing.T) {
	d := startSwtpm(t)
	for _, pcr := range []int{PCRPhase, PCRCmdline, PCRVolume} {
		got, err := d.ReadPCR(pcr)
		if err != nil {
			t.Fatal(err)
		}
		if got != [32]byte{} {
			t.Errorf("fresh TPM PCR %d = %x, want all zero", pcr, got)
		}
	}
}

// TestSwtpmExtendMatchesReplay runs the whole scheme against a real TPM: the
// PCRs read back equal Replay of the events, and equal Replay of the event
// log written alongside (so a verifier holding only the log gets them too).
func TestSwtpmExtendMatchesReplay(t *testing.T) {
	d := startSwtpm(t)
	events := []Event{
		BinaryEvent([]byte("\x7fELF cvminit")),
		ConfigEvent([]byte(`{"tpm":{"mode":"auto"}}`)),
		PhaseEvent(PhaseEnterInitrd),
		CmdlineEvent("console=ttyS0 ro\n"),
		DiskEvent("3f1c2e4a-0000-4000-8000-00000000abcd", strings.Repeat("ab", 32)),
		VerityEvent(strings.Repeat("cd", 32)),
		PhaseEvent(PhaseLeaveInitrd),
	}
	var log bytes.Buffer
	for _, e := range events {
		if err := d.Extend(e.PCR, e.Digest); err != nil {
			t.Fatal(err)
		}
		if err := WriteRecord(&log, e); err != nil {
			t.Fatal(err)
		}
	}
	parsed, err := ParseLog(&log)
	if err != nil {
		t.Fatal(err)
	}
	want, fromLog := Replay(events), Replay(parsed)
	for _, pcr := range []int{PCRPhase, PCRCmdline, PCRVolume} {
		got, err := d.ReadPCR(pcr)
		if err != nil {
			t.Fatal(err)
		}
		if got == [32]byte{} || got != want[pcr] || got != fromLog[pcr] {
			t.Errorf("PCR %d = %x, want Replay %x (from log %x)", pcr, got, want[pcr], fromLog[pcr])
		}
	}
}

func TestSwtpmRefusesBadPCR(t *testing.T) {
	d := startSwtpm(t)
	if err := d.Extend(24, [32]byte{}); err == nil || !strings.Contains(err.Error(), "PCR 24 outside") {
		t.Errorf("Extend(24) err = %v, want PCR range error", err)
	}
	if _, err := d.ReadPCR(-1); err == nil || !strings.Contains(err.Error(), "PCR -1 outside") {
		t.Errorf("ReadPCR(-1) err = %v, want PCR range error", err)
	}
}

func TestOpenMissingIsNoTPM(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "tpmrm0"))
	if !errors.Is(err, ErrNoTPM) {
		t.Fatalf("Open(missing) err = %v, want ErrNoTPM", err)
	}
}

func TestOpenNotADevice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tpm0")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if err == nil || errors.Is(err, ErrNoTPM) {
		t.Fatalf("Open(regular file) err = %v, want an error other than ErrNoTPM", err)
	}
}
