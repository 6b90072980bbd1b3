//go:build linux

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/timeline"
)

// median is the middle value of vs (the mean of the two middle ones for an
// even count).
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianOf is the median of f over runs.
func medianOf(runs []bootRun, f func(bootRun) float64) float64 {
	vs := make([]float64, len(runs))
	for i, r := range runs {
		vs[i] = f(r)
	}
	return median(vs)
}

// medianRun is the run whose PID 1 → switch_root is the median (the lower
// middle one for an even count).
func medianRun(runs []bootRun) bootRun {
	s := slices.Clone(runs)
	slices.SortStableFunc(s, func(a, b bootRun) int { return int(a.tl.TotalMS - b.tl.TotalMS) })
	return s[(len(s)-1)/2]
}

func totalMS(r bootRun) float64  { return float64(r.tl.TotalMS) }
func wallMS(r bootRun) float64   { return float64(r.wall.Milliseconds()) }
func kernelMS(r bootRun) float64 { return float64(r.kernel.Milliseconds()) }
func execMS(r bootRun) float64   { return float64(r.exec.Milliseconds()) }

// reportBoots reports the medians as benchmark metrics (ns/op, the time of
// the whole set of boots, is left out: it means nothing per boot).
func reportBoots(b *testing.B, cv, base []bootRun) {
	b.Helper()
	b.ReportMetric(0, "ns/op")
	c, bl := medianOf(cv, totalMS), medianOf(base, totalMS)
	b.ReportMetric(c, "pid1-cvminit-ms")
	b.ReportMetric(bl, "pid1-baseline-ms")
	if bl > 0 {
		b.ReportMetric(c/bl, "pid1-ratio")
	}
	b.ReportMetric(median(pairedRatios(cv, base)), "pid1-ratio-paired")
	for _, m := range []struct {
		name string
		f    func(bootRun) float64
	}{{"wall", wallMS}, {"kernel", kernelMS}, {"exec", execMS}} {
		b.ReportMetric(medianOf(cv, m.f), m.name+"-cvminit-ms")
		b.ReportMetric(medianOf(base, m.f), m.name+"-baseline-ms")
	}
	for _, bar := range medianRun(cv).tl.Bars {
		b.ReportMetric(medianStep(cv, bar.Name), "step-"+bar.Name+"-ms")
	}
	if !slices.ContainsFunc(cv, func(r bootRun) bool { return r.vmhwm < 0 }) {
		b.ReportMetric(medianOf(cv, func(r bootRun) float64 { return float64(r.vmhwm) }), "vmhwm-cvminit-KiB")
	} else {
		b.Log("no vmhwm_kib= in every cvminit log: peak RSS not reported")
	}
	logBoots(b, cv, base)
}

// logBoots logs each boot's totals and the medians, in few lines (a
// benchmark's log is cut after 10).
func logBoots(b *testing.B, cv, base []bootRun) {
	b.Helper()
	c, bl := medianOf(cv, totalMS), medianOf(base, totalMS)
	b.Logf("PID 1 → switch_root per boot, ms: cvminit %v, baseline %v", each(cv, totalMS), each(base, totalMS))
	b.Logf("QEMU start → %s per boot, ms: cvminit %v, baseline %v", OSMarker, each(cv, wallMS), each(base, wallMS))
	b.Logf("median PID 1 → switch_root: cvminit %.0f ms, baseline %.0f ms, ratio %.2f (goal ≤ 1.25)", c, bl, c/bl)
	p := pairedRatios(cv, base)
	b.Logf("ratio of each boot to the baseline boot after it: %.2f, median %.2f (from %.2f to %.2f)", p, median(p),
		slices.Min(p), slices.Max(p))
	b.Logf("median steps, ms (cvminit/baseline): %s", stepTable(cv, base))
}

// pairedRatios is, for each cvminit boot, its PID 1 → switch_root over
// that of the baseline boot that followed it: the boots alternate, so each
// pair ran on the machine in about the same state, which a ratio of the
// two medians does not use.
func pairedRatios(cv, base []bootRun) []float64 {
	out := make([]float64, min(len(cv), len(base)))
	for i := range out {
		out[i] = totalMS(cv[i]) / totalMS(base[i])
	}
	return out
}

// each lists f over runs, in boot order.
func each(runs []bootRun, f func(bootRun) float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = f(r)
	}
	return out
}

// medianStep is the median of a step's ms over the runs that have it.
func medianStep(runs []bootRun, name string) float64 {
	var vs []float64
	for _, r := range runs {
		if bar, ok := r.tl.Bar(name); ok {
			vs = append(vs, float64(bar.MS))
		}
	}
	return median(vs)
}

// stepTable lists cvminit's steps with their median ms and the baseline's
// for the steps it has too ("-" otherwise), on one line.
func stepTable(cv, base []bootRun) string {
	var parts []string
	for _, bar := range medianRun(cv).tl.Bars {
		other := "-"
		if _, ok := medianRun(base).tl.Bar(bar.Name); ok {
			other = formatMS(medianStep(base, bar.Name))
		}
		parts = append(parts, bar.Name+" "+formatMS(medianStep(cv, bar.Name))+"/"+other)
	}
	return strings.Join(parts, ", ")
}

func formatMS(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// keepMedian writes the SVG and the serial logs of the median boots where
// BENCH_TIMELINE and BENCH_LOGDIR ask.
func keepMedian(b *testing.B, e *Env, cv, base []bootRun) {
	b.Helper()
	mc, mb := medianRun(cv), medianRun(base)
	if dir := os.Getenv(envLogDir); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for name, raw := range map[string][]byte{"cvminit.log": mc.raw, "baseline.log": mb.raw} {
			if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	out := os.Getenv(envTimeline)
	if out == "" {
		return
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(e.Layout.Root, out)
	}
	c, bl := mc.tl, mb.tl
	c.Label, bl.Label = "cvminit", "baseline"
	var svg bytes.Buffer
	if err := timeline.Render(&svg, c, bl); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(out, svg.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("timeline of the median boots: %s", out)
}
