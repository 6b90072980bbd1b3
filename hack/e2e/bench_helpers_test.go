//go:build linux

package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/cvminit/cvminit/timeline"
)

// fakeBoot is a Result as Boot returns it, from lines and their arrival
// times in ms after QEMU started.
func fakeBoot(texts []string, ms []int64, poweredOff bool) *Result {
	r := &Result{PoweredOff: poweredOff}
	for i, t := range texts {
		r.Lines = append(r.Lines, Line{Text: t, At: time.Duration(ms[i]) * time.Millisecond})
		r.Raw = append(r.Raw, t+"\r\n"...)
	}
	return r
}

var okBoot = []string{
	"SeaBIOS", "[    3.092862] Run /init as init process",
	"cvminit: step=mounts status=ok ms=13", "cvminit: step=modules status=ok ms=1200",
	"[    4.1] cvminit: peak vmhwm_kib=23456", "CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=1300",
	OSMarker,
}

func TestMeasureBoot(t *testing.T) {
	r := fakeBoot(okBoot, []int64{100, 3000, 3300, 4500, 4550, 4600, 4900}, true)
	run, err := measureBoot(r)
	if err != nil {
		t.Fatal(err)
	}
	if run.kernel != 3000*time.Millisecond || run.exec != 1600*time.Millisecond || run.wall != 4900*time.Millisecond {
		t.Errorf("kernel %v, exec %v, wall %v; want 3s, 1.6s, 4.9s", run.kernel, run.exec, run.wall)
	}
	if run.tl.TotalMS != 1300 || len(run.tl.Bars) != 3 || run.vmhwm != 23456 {
		t.Errorf("total %d, %d bars, vmhwm %d; want 1300, 3 (switchroot implied), 23456", run.tl.TotalMS, len(run.tl.Bars), run.vmhwm)
	}
	noRSS := fakeBoot(append(okBoot[:4:4], okBoot[5:]...), []int64{1, 2, 3, 4, 5, 6}, true)
	if run, err := measureBoot(noRSS); err != nil || run.vmhwm != -1 {
		t.Errorf("without vmhwm_kib=: vmhwm %d, err %v; want -1 and no error", run.vmhwm, err)
	}
}

func TestMeasureBootRefuses(t *testing.T) {
	times := []int64{1, 2, 3, 4, 5, 6, 7}
	failed := append([]string(nil), okBoot...)
	failed[5] = `CVMINIT-STATUS v1 FAIL code=KEY_REFUSED step=key hint="no"`
	noOS := append([]string(nil), okBoot[:6]...)
	osFirst := append([]string{OSMarker}, okBoot[:6]...)
	for name, r := range map[string]*Result{
		"failed boot":         fakeBoot(failed, times, true),
		"no power off":        fakeBoot(okBoot, times, false),
		"no OS marker":        fakeBoot(noOS, times, true),
		"marker before OK":    fakeBoot(osFirst, times, true),
		"no kernel exec line": fakeBoot(okBoot[2:], times, true),
	} {
		if _, err := measureBoot(r); err == nil {
			t.Errorf("%s: measured", name)
		}
	}
}

func TestMedians(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("median(5,1,3) = %v", m)
	}
	if m := median([]float64{4, 1, 3, 10}); m != 3.5 {
		t.Errorf("median(4,1,3,10) = %v", m)
	}
	var runs []bootRun
	for _, ms := range []int64{900, 700, 800, 1000} {
		tl, err := timeline.ParseLines([]string{"cvminit: step=a status=ok ms=" + strconv.FormatInt(ms, 10)})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, bootRun{tl: tl})
	}
	if m := medianRun(runs); m.tl.TotalMS != 800 {
		t.Errorf("median run %d ms, want the lower middle, 800", m.tl.TotalMS)
	}
	if m := medianStep(runs, "a"); m != 850 {
		t.Errorf("median of step a %v, want 850", m)
	}
}
