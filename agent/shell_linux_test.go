package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's master and the path of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func TestConsoleShell(t *testing.T) {
	master, pts := openPTY(t)
	slave, err := os.OpenFile(pts, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening %s: %v", pts, err)
	}
	defer slave.Close()
	if err := QuietConsole(slave); err != nil { // as cvminit's main does
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "gosh")
	// The shell reports its terminal, whether it is its controlling one
	// (/dev/tty opens only then) and its PATH.
	body := "#!/bin/sh\nc=no; if (: </dev/tty) 2>/dev/null; then c=yes; fi\necho \"shell ran tty=$(tty) ctty=$c path=$PATH\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, master) // ends with EIO once every slave fd is closed
		out <- b.String()
	}()
	sh := consoleShell{console: pts, paths: []string{filepath.Join(dir, "missing"), script}}
	if err := sh.run(context.Background()); err != nil {
		t.Fatalf("run = %v", err)
	}
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		bit  uint32
	}{{"ECHO", unix.ECHO}, {"ICANON", unix.ICANON}, {"ISIG", unix.ISIG}} {
		if tio.Lflag&f.bit == 0 {
			t.Errorf("console %s still off after the shell started", f.name)
		}
	}
	slave.Close()
	var got string
	select {
	case got = <-out:
	case <-time.After(5 * time.Second):
		t.Fatal("console output never ended")
	}
	want := "cvminit: debug image: shell on the console after failure\r\nshell ran tty=" + pts + " ctty=yes path=/bin\r\n"
	if got != want {
		t.Errorf("console:\n%q\nwant\n%q", got, want)
	}
}

func TestConsoleShellMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sh"), []byte("#!/bin/sh\n"), 0o644); err != nil { // not executable
		t.Fatal(err)
	}
	// The console does not exist either: it must not even be opened.
	sh := consoleShell{console: filepath.Join(dir, "console"), paths: []string{filepath.Join(dir, "gosh"), filepath.Join(dir, "sh")}}
	if err := sh.run(context.Background()); !errors.Is(err, ErrNoDebugShell) {
		t.Errorf("run = %v, want ErrNoDebugShell", err)
	}
}

func TestLinuxSysDebugShell(t *testing.T) {
	sh := linuxDebugShell()
	if LinuxSys().DebugShell == nil || sh.console != "/dev/console" ||
		strings.Join(sh.paths, " ") != "/bin/gosh /bin/sh" {
		t.Errorf("LinuxSys debug shell: %+v", sh)
	}
}
