//go:build linux

package e2e

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/klog"
)

func TestConsoleSplitsLines(t *testing.T) {
	var log strings.Builder
	c := NewConsole(&log)
	for _, chunk := range []string{"Booting\r\nfirst ", "half\r", "\nCVMINIT-STATUS v1 OK", " root=/dev/mapper/root", "\nrest"} {
		c.Write([]byte(chunk))
	}
	want := []string{"Booting", "first half", "CVMINIT-STATUS v1 OK root=/dev/mapper/root", "rest"}
	if got := lineTexts(c.Lines()); !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	raw := "Booting\r\nfirst half\r\nCVMINIT-STATUS v1 OK root=/dev/mapper/root\nrest"
	if log.String() != raw || string(c.Raw()) != raw {
		t.Errorf("log %q, raw %q, want both %q", log.String(), c.Raw(), raw)
	}
}

func TestFinalStatus(t *testing.T) {
	ok := "CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=2310"
	fail := `CVMINIT-STATUS v1 FAIL code=KEY_REFUSED step=key hint="broker refused the key"`
	tests := []struct {
		name  string
		lines []string
		want  klog.Status
		err   string
	}{
		{"ok", []string{"[ 1.0] kernel", ok, "CONFIDENTIAL-OS-UP"}, klog.Status{OK: true, Root: "/dev/mapper/root",
			Init: "/sbin/init", TotalMS: 2310}, ""},
		{"fail", []string{fail}, klog.Status{Code: "KEY_REFUSED", Step: "key", Hint: "broker refused the key"}, ""},
		{"none", []string{"[ 1.0] kernel"}, klog.Status{}, "0 status lines"},
		{"two", []string{fail, ok}, klog.Status{}, "2 status lines"},
		{"garbled", []string{"CVMINIT-STATUS v1 MAYBE"}, klog.Status{}, "does not parse"},
		{"echoed by the kernel", []string{"[ 2.31] " + ok}, klog.Status{}, "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lines []Line
			for _, s := range tt.lines {
				lines = append(lines, Line{Text: s})
			}
			st, _, err := FinalStatus(lines)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || st != tt.want {
				t.Fatalf("got %+v, %v; want %+v", st, err, tt.want)
			}
		})
	}
}

func TestLeaks(t *testing.T) {
	key := []byte{0xde, 0xad, 0xbe, 0xef, 0xfb, 0xff, 0x01, 0x02, 0x03}
	tests := []struct {
		name, out string
		want      []string
	}{
		{"clean", "CVMINIT-STATUS v1 OK ... 0xdeadbeef", nil},
		{"raw", "x" + string(key) + "y", []string{"raw"}},
		{"hex", "key=deadbeeffbff010203", []string{"hex"}},
		{"HEX", "key=DEADBEEFFBFF010203", []string{"HEX"}},
		{"base64", "k=" + base64.StdEncoding.EncodeToString(key), []string{"base64"}},
		{"base64url", "k=" + base64.RawURLEncoding.EncodeToString(key), []string{"base64url"}},
	}
	for _, tt := range tests {
		if got := Leaks([]byte(tt.out), key); !slices.Equal(got, tt.want) {
			t.Errorf("%s: leaks %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := Leaks([]byte("anything"), nil); len(got) == 0 {
		t.Error("an empty secret must count as a leak")
	}
}

func TestVMArgs(t *testing.T) {
	v := VM{Kernel: "/k", Initrd: "/i", Cmdline: "console=ttyS0", Disk: "/d.img", SNPSocket: "/s.sock"}
	args, err := v.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{"-machine q35", "-m 512", "-smp 2", "-no-reboot", "-monitor none",
		"-drive file=/d.img,if=virtio,format=raw,snapshot=on", "socket,path=/s.sock,id=snp",
		"virtserialport,chardev=snp,name=cvminit.snp", "-append console=ttyS0"} {
		if !strings.Contains(line, want) {
			t.Errorf("QEMU args %q lack %q", line, want)
		}
	}
	if strings.Contains(line, "-bios") || strings.Contains(line, "-enable-kvm") {
		t.Errorf("QEMU args %q: want default firmware and TCG", line)
	}
	if _, err := (VM{Disk: "/a,b.img"}).Args(); err == nil {
		t.Error("a disk path with a comma must be refused")
	}
}

func TestSplitKernelMessageInsideALine(t *testing.T) {
	c := NewConsole(nil)
	c.Write([]byte("cvminit: step=disk status=fail ms=9959[   15.675270] cvminit: boot failed step=disk\n" +
		"[    1.000000] plain kernel line\nCVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=1\n"))
	var got []string
	for _, l := range c.Lines() {
		got = append(got, l.Text)
	}
	want := []string{"cvminit: step=disk status=fail ms=9959", "[   15.675270] cvminit: boot failed step=disk",
		"[    1.000000] plain kernel line", "CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if steps := Steps(c.Lines()); len(steps) != 1 || steps[0].Name != "disk" {
		t.Fatalf("steps = %+v", steps)
	}
}

// TestKernelMessageCutsALine: a kernel message that lands inside a step
// line ends with its own newline; the step line's rest follows on the next
// line and is joined back to its start.
func TestKernelMessageCutsALine(t *testing.T) {
	c := NewConsole(nil)
	c.Write([]byte("cvminit: step=mo[    4.257860] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready\r\n"))
	c.Write([]byte("[    4.258000] another kernel line\r\nunt status=ok ms=135\r\ncvminit: step=wipe status=ok ms=1\r\n"))
	var got []string
	for _, l := range c.Lines() {
		got = append(got, l.Text)
	}
	want := []string{"[    4.257860] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
		"[    4.258000] another kernel line", "cvminit: step=mount status=ok ms=135", "cvminit: step=wipe status=ok ms=1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if steps := Steps(c.Lines()); len(steps) != 2 || steps[0].Name != "mount" || steps[0].MS != 135 {
		t.Fatalf("steps = %+v", steps)
	}
}
