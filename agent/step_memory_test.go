package agent

import (
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// testMeminfo is the head of /proc/meminfo of the e2e guest with 256 MiB of
// RAM (MemTotal 203 MiB): above the default boot.min_memory_mib.
var testMeminfo = []byte("MemTotal:         208468 kB\nMemFree:          174012 kB\nMemAvailable:     179300 kB\n")

// meminfo is a /proc/meminfo whose MemTotal is kib.
func meminfo(kib string) string {
	return "MemFree:   1000 kB\nMemTotal:   " + kib + " kB\nMemAvailable:  900 kB\n"
}

func TestKernelKiB(t *testing.T) {
	tests := []struct {
		name, in, key string
		want          uint64
		ok            bool
	}{
		{"meminfo", string(testMeminfo), "MemTotal", 208468, true},
		{"later line", string(testMeminfo), "MemAvailable", 179300, true},
		{"status", "Name:\tinit\nVmPeak:\t 1300000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20000 kB\n", "VmHWM", 23456, true},
		{"missing", "MemFree: 1 kB\n", "MemTotal", 0, false},
		{"longer key only", "MemTotalX: 5 kB\n", "MemTotal", 0, false},
		{"no unit", "MemTotal: 5\n", "MemTotal", 0, false},
		{"other unit", "MemTotal: 5 MB\n", "MemTotal", 0, false},
		{"not a number", "MemTotal: -5 kB\n", "MemTotal", 0, false},
		{"overflow", "MemTotal: 99999999999999999999999 kB\n", "MemTotal", 0, false},
		{"empty", "", "MemTotal", 0, false},
	}
	for _, tt := range tests {
		got, err := kernelKiB([]byte(tt.in), tt.key)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: kernelKiB(%q) = %d, %v; want %d, ok %v", tt.name, tt.key, got, err, tt.want, tt.ok)
		}
	}
}

// withMeminfo makes h boot with its config and the /proc/meminfo text m.
func withMeminfo(t *testing.T, h *harness, m string) {
	t.Helper()
	b, err := h.cfg.JSON()
	if err != nil {
		t.Fatal(err)
	}
	h.f.files = map[string][]byte{config.Path: b, meminfoPath: []byte(m)}
}

// TestMemoryLow fails the boot in the memory step, before anything after
// the config runs, with a hint naming MemTotal and the minimum.
func TestMemoryLow(t *testing.T) {
	for _, tt := range []struct {
		name, meminfo string
		min           int // boot.min_memory_mib; 0: the default
		hint          []string
	}{
		{"below the default", meminfo("79636"), 0, []string{"MemTotal 79636 kB (77 MiB)", "minimum of 128 MiB"}},
		{"one KiB short", meminfo("262143"), 256, []string{"MemTotal 262143 kB", "minimum of 256 MiB"}},
		{"unparsable", "MemTotal: lots\n", 0, []string{"MemTotal unknown"}},
		{"no MemTotal", "MemFree: 1 kB\n", 0, []string{"MemTotal unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.cfg.Boot.MinMemoryMiB = tt.min
			withMeminfo(t, h, tt.meminfo)
			checkFailure(t, h, h.run(), "memory", klog.CodeMemoryLow, []string{"tpm open", "load", "net"})
			if f := h.finals(); len(f) == 1 {
				for _, s := range tt.hint {
					if !strings.Contains(f[0].Hint, s) {
						t.Errorf("hint %q lacks %q", f[0].Hint, s)
					}
				}
			}
		})
	}
}

// TestMemoryEnough boots with MemTotal exactly at the minimum and logs the
// size it checked.
func TestMemoryEnough(t *testing.T) {
	h := newHarness(t)
	h.cfg.Boot.MinMemoryMiB = 256
	withMeminfo(t, h, meminfo("262144"))
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v\nconsole:\n%s", err, h.console)
	}
	if f := h.finals(); len(f) != 1 || !f[0].OK {
		t.Errorf("final lines %+v, want one OK line", f)
	}
	if want := "memtotal_kib=262144 min_memory_mib=256"; !strings.Contains(h.kmsg.String(), want) {
		t.Errorf("kernel log lacks %q:\n%s", want, h.kmsg)
	}
}

// TestPeakMemoryLogged logs cvminit's VmHWM once, in the switchroot step
// before the OK line; an unreadable status file costs no info line.
func TestPeakMemoryLogged(t *testing.T) {
	h := newHarness(t)
	withMeminfo(t, h, string(testMeminfo))
	h.f.files[selfStatusPath] = []byte("Name:\tinit\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n")
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	log := h.kmsg.String()
	peak, status := strings.Index(log, "peak memory vmhwm_kib=23456\n"), strings.Index(log, klog.StatusPrefix)
	if strings.Count(log, "vmhwm_kib=") != 1 || peak < 0 || status < peak {
		t.Errorf("kernel log lacks one \"peak memory vmhwm_kib=23456\" line before the status line:\n%s", log)
	}
	h = newHarness(t)
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if strings.Contains(h.kmsg.String(), "vmhwm_kib=") {
		t.Errorf("peak memory logged without /proc/self/status:\n%s", h.kmsg)
	}
}
