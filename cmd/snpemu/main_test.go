package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/snp"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

func runCmd(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(ctx, args, &o, &e)
	return code, o.String(), e.String()
}

func TestBadUsage(t *testing.T) {
	m := strings.Repeat("ab", 48)
	tests := [][]string{
		{"bogus"},
		{"init"},
		{"init", "--state"},
		{"init", "--nope", "x"},
		{"init", "--state", "x", "extra"},
		{"serve"},
		{"serve", "--state", "s"},
		{"serve", "--state", "s", "--socket", "p"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", m, "--ovmf", "o"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", "abc"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", m, "--kernel", "k"},
		{"serve", "--state", "s", "--socket", "p", "--ovmf", "o", "--initrd", "i"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", m, "--vmpl", "4"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", m, "--vcpus", "0"},
		{"serve", "--state", "s", "--socket", "p", "--ovmf", "o", "--vcpu-type", "Pentium"},
		{"serve", "--state", "s", "--socket", "p", "--ovmf", "o", "--guest-features", "lots"},
		{"serve", "--state", "s", "--socket", "p", "--measurement", m, "--debug=maybe"},
	}
	for _, args := range tests {
		code, _, stderr := runCmd(context.Background(), args...)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(stderr, "snpemu: ") || strings.Contains(stderr, "goroutine") {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line", args, code, stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"init", "-h"}, {"serve", "--help"}} {
		code, stdout, _ := runCmd(context.Background(), args...)
		if code != 0 || !strings.Contains(stdout, "virtserialport,chardev=snp,name=cvminit.snp") {
			t.Errorf("%q: exit %d, usage without the QEMU arguments", args, code)
		}
	}
}

// TestInitAndServe runs both commands as the demo does and asks the served
// emulator for a report over its unix socket.
func TestInitAndServe(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := emu.InitWith(state, emu.InitOptions{Product: "Genoa", RSABits: 2048}); err != nil {
		t.Fatal(err) // the command's own init uses 4096-bit roots; emu's tests cover that
	}
	if code, _, stderr := runCmd(context.Background(), "init", "--state", state); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("init over an existing state: exit %d, %q", code, stderr)
	}
	sock := filepath.Join(dir, "snp.sock")
	m := strings.Repeat("5a", 48)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCmd(ctx, "serve", "--state", state, "--socket", sock, "--measurement", m, "--debug")
		done <- code
	}()
	resp := request(t, sock)
	if resp.Err() != nil || len(resp.Report) != snp.ReportSize || resp.Report[0x90] != 0x5a {
		t.Fatalf("response %+v", resp.Err())
	}
	if err := snp.CheckOwn(resp.Report, [64]byte{1}); err == nil {
		t.Fatal("--debug report passed the guest's check")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d after cancel", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func request(t *testing.T, sock string) snp.Response {
	t.Helper()
	var conn net.Conn
	var err error
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("emulator never listened: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(snp.EncodeRequest(snp.Request{Type: 1, ReportData: [64]byte{1}})); err != nil {
		t.Fatal(err)
	}
	resp, err := snp.ReadResponse(conn)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
