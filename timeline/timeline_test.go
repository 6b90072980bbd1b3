package timeline

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// realLog is shaped like a captured QEMU serial console: CRLF endings,
// firmware and kernel lines, a kernel message glued to the end of a step
// line, a kernel echo of a step line (which must not count), binary
// garbage, and lines after switch_root.
const realLog = "SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n" +
	"\x00\xff\xfe garbage \x1b[2J\r\n" +
	"[    3.092862] Run /init as init process\r\n" +
	"\r\n" +
	"cvminit: step=mounts status=ok ms=13\r\n" +
	"[    3.387995] cvminit: cvminit starting pid1=true\r\n" +
	"cvminit: step=log status=ok ms=6[    3.400001] random: crng init done\r\n" +
	"[    3.401000] cvminit: step=log status=ok ms=999\r\n" +
	"cvminit: step=config status=ok ms=71\r\n" +
	"[    3.554280] ACPI: \\_SB_.GSIG: Enabled at IRQ 22\r\n" +
	"cvminit: step=modules status=ok ms=1225\r\n" +
	"cvminit: step=network status=ok ms=65\n" +
	"cvminit: step=key status=ok ms=303\r\n" +
	"\rcvminit: step=unlock status=ok ms=214\r\n" +
	"cvminit: step=mount status=ok ms=74\r\n" +
	"CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=2000 tpm=absent\r\n" +
	"[    5.467215] Not activating Mandatory Access Control\r\n" +
	"CONFIDENTIAL-OS-UP\r\n" +
	"[    5.994270] reboot: Power down\r\n"

func TestParseRealLog(t *testing.T) {
	tl, err := Parse(strings.NewReader(realLog))
	if err != nil {
		t.Fatal(err)
	}
	// Starts summed by hand: 0, 13, 19, 90, 1315, 1380, 1683, 1897; the
	// printed steps end at 1971, total_ms is 2000.
	want := []Bar{
		{"mounts", "ok", 0, 13, false}, {"log", "ok", 13, 6, false}, {"config", "ok", 19, 71, false},
		{"modules", "ok", 90, 1225, false}, {"network", "ok", 1315, 65, false}, {"key", "ok", 1380, 303, false},
		{"unlock", "ok", 1683, 214, false}, {"mount", "ok", 1897, 74, false}, {"switchroot", "ok", 1971, 29, true},
	}
	if len(tl.Bars) != len(want) {
		t.Fatalf("%d bars %+v, want %d", len(tl.Bars), tl.Bars, len(want))
	}
	for i, w := range want {
		if tl.Bars[i] != w {
			t.Errorf("bar %d = %+v, want %+v", i, tl.Bars[i], w)
		}
	}
	if tl.TotalMS != 2000 || tl.Final == nil || !tl.Final.OK || tl.Outcome() != "OK" {
		t.Errorf("total %d, final %v, outcome %q; want 2000, the OK line, OK", tl.TotalMS, tl.Final, tl.Outcome())
	}
	if b, ok := tl.Bar("modules"); !ok || b.EndMS() != 1315 {
		t.Errorf("Bar(modules) = %+v, %v; want it ending at 1315", b, ok)
	}
}

func TestParseFailedBoot(t *testing.T) {
	log := "cvminit: step=mounts status=ok ms=10\n" +
		"cvminit: step=disk status=fail ms=30000\n" +
		`CVMINIT-STATUS v1 FAIL code=DISK_NOT_FOUND step=disk hint="no disk"` + "\n"
	tl, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Bars) != 2 || tl.Bars[1].Status != "fail" || tl.Bars[1].StartMS != 10 {
		t.Fatalf("bars %+v, want mounts then a failed disk from 10 ms", tl.Bars)
	}
	if tl.TotalMS != 30010 || tl.Outcome() != "FAIL DISK_NOT_FOUND in disk" {
		t.Errorf("total %d, outcome %q; want 30010 and the failure", tl.TotalMS, tl.Outcome())
	}
}

func TestParseWithoutFinalLine(t *testing.T) {
	tl, err := ParseLines([]string{"cvminit: step=mounts status=ok ms=4", "cvminit: step=config status=ok ms=5"})
	if err != nil {
		t.Fatal(err)
	}
	if tl.TotalMS != 9 || tl.Final != nil || len(tl.Bars) != 2 || tl.Outcome() != "no final status line" {
		t.Errorf("got %+v, want 2 bars, total 9 and no final line", tl)
	}
}

// A total_ms below the printed steps (a clock step) adds no bar.
func TestParseTotalBelowSteps(t *testing.T) {
	tl, err := ParseLines([]string{"cvminit: step=mounts status=ok ms=40",
		"CVMINIT-STATUS v1 OK root=/dev/vda init=/sbin/init total_ms=30"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Bars) != 1 || tl.TotalMS != 40 {
		t.Errorf("got %+v, want one bar and total 40", tl)
	}
}

// A log of a reboot loop holds several boots: the last one is drawn.
func TestParseKeepsLastBoot(t *testing.T) {
	log := "cvminit: step=mounts status=ok ms=10\ncvminit: step=disk status=fail ms=500\n" +
		`CVMINIT-STATUS v1 FAIL code=DISK_NOT_FOUND step=disk hint="x"` + "\n" +
		"[    0.000000] Linux version 6.1\n" +
		"cvminit: step=mounts status=ok ms=7\ncvminit: step=disk status=ok ms=20\n" +
		"cvminit: step=mounts status=ok ms=8\n" // a third boot, cut short
	tl, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Bars) != 1 || tl.Bars[0].MS != 8 || tl.Final != nil {
		t.Errorf("got %+v, want only the third boot's mounts (8 ms)", tl)
	}
}

func TestParseRefusesLogsWithoutSteps(t *testing.T) {
	for name, log := range map[string]string{
		"empty":        "",
		"kernel only":  "[    3.092862] Run /init as init process\r\n[    3.1] x\r\n",
		"status only":  "CVMINIT-STATUS v1 OK root=/dev/vda init=/sbin/init total_ms=30\n",
		"kernel echo":  "[    3.401000] cvminit: step=log status=ok ms=999\n",
		"bad ms":       "cvminit: step=log status=ok ms=-1\ncvminit: step=log status=ok ms=x\n",
		"bad status":   "cvminit: step=log status=maybe ms=1\n",
		"binary noise": "\x00\x01\x02\xff\xfe\n\n\r\n",
	} {
		if _, err := Parse(strings.NewReader(log)); !errors.Is(err, ErrNoSteps) {
			t.Errorf("%s: err %v, want ErrNoSteps", name, err)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestParseRefusesHugeLogs(t *testing.T) {
	_, err := Parse(io.LimitReader(zeros{}, MaxLog+1))
	if err == nil || errors.Is(err, ErrNoSteps) {
		t.Errorf("err %v, want a size error", err)
	}
}

// A kernel message that cut a step line in two does not lose the step:
// the line's start and its rest (after the kernel's own newline) are
// joined back.
func TestParseCutStepLine(t *testing.T) {
	tl, err := ParseLines([]string{"cvminit: step=mounts status=ok ms=10\r",
		"cvminit: step=lo[    1.000000] IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready\r",
		"g status=ok ms=5\r", "CVMINIT-STATUS v1 OK root=/dev/vda init=/sbin/init total_ms=20\r"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Bars) != 3 || tl.Bars[1].Name != "log" || tl.Bars[1].MS != 5 || tl.Bars[2].MS != 5 {
		t.Errorf("got %+v, want mounts 10, log 5 and 5 implied", tl.Bars)
	}
}
