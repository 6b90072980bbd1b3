//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/timeline"
)

// Environment variables BenchmarkBoot reads.
const (
	// envBoots is how many times each init boots (default 15: with 9 the
	// median ratio still moved by ±0.08 between runs on a shared 2-core
	// machine, with 5 by more).
	envBoots = "BENCH_BOOTS"
	// envTimeline, when set, is where the SVG of the median boots goes
	// (cvminit above the baseline; a relative path is taken from the
	// repository root), e.g. docs/boot-timeline.svg.
	envTimeline = "BENCH_TIMELINE"
	// envLogDir, when set, receives the median boots' serial logs as
	// cvminit.log and baseline.log (`cvmctl timeline --baseline
	// baseline.log cvminit.log` redraws the SVG from them).
	envLogDir = "BENCH_LOGDIR"
)

// kernelRunInit is the kernel's line as it starts PID 1.
const kernelRunInit = "Run /init as init process"

// vmhwmField is cvminit's peak RSS in a log line, in KiB.
var vmhwmField = regexp.MustCompile(`vmhwm_kib=([0-9]+)`)

// bootRun is what one benchmark boot measured.
type bootRun struct {
	tl     timeline.Timeline // PID 1 → switch_root, from the guest's own clock
	kernel time.Duration     // QEMU start → the kernel's "Run /init" line
	exec   time.Duration     // "Run /init" → the final OK line, as the host saw them
	wall   time.Duration     // QEMU start → OSMarker
	vmhwm  int64             // peak RSS in KiB from vmhwm_kib=; -1 when not logged
	raw    []byte            // the serial output
}

// BenchmarkBoot boots cvminit (the happy path: broker, attestation,
// unlock, dm-verity) and the baseline PID 1 of hack/baseinit (same kernel,
// same modules, the confidential OS's plain ext4 image) alternately,
// BENCH_BOOTS times each, and reports medians: PID 1 → switch_root of each
// and their ratio, cvminit's steps, QEMU start → the OS's marker, QEMU start
// → PID 1, PID 1's exec → the OK line, and cvminit's peak RSS when its log
// has vmhwm_kib=. Run it with -benchtime 1x; BENCH_TIMELINE and BENCH_LOGDIR
// keep the median boots.
func BenchmarkBoot(b *testing.B) {
	e := benchEnv(b)
	baseInitrd := baselineImage(b, e)
	n := benchBoots(b)
	var cv, base []bootRun
	for i := 0; b.Loop(); i++ {
		for k := range n {
			cv = append(cv, benchBoot(b, e, fmt.Sprintf("bench-cvminit-%d-%d", i, k), BootOptions{}))
			base = append(base, benchBoot(b, e, fmt.Sprintf("bench-baseline-%d-%d", i, k),
				BootOptions{Initrd: baseInitrd, Disk: e.Rootfs, NoBroker: true}))
		}
	}
	reportBoots(b, cv, base)
	keepMedian(b, e, cv, base)
}

// benchEnv is requireEnv for a benchmark: the shared Env, built on first
// use, or a skip (outside CI, on an unprepared machine or with -short).
func benchEnv(b *testing.B) *Env {
	b.Helper()
	if testing.Short() && !inCI() {
		b.Skip("e2e: QEMU boots skipped in -short mode")
	}
	shared.once.Do(func() { shared.env, shared.err = setupEnv(b) })
	if errors.Is(shared.err, ErrUnavailable) && !inCI() {
		b.Skipf("e2e: %v (with CI=true this is a failure)", shared.err)
	}
	if shared.err != nil {
		b.Fatalf("e2e: %v", shared.err)
	}
	return shared.env
}

// baselineImage builds hack/baseinit and its initramfs with the modules
// and config of the Env's cvminit image.
func baselineImage(b *testing.B, e *Env) string {
	b.Helper()
	dir := filepath.Join(e.Opts.Work, "baseline")
	bin, err := BuildBaseline(context.Background(), e.Tools, e.Layout, dir)
	if err != nil {
		b.Fatalf("building the baseline init: %v", err)
	}
	img := filepath.Join(dir, "initramfs.img")
	if err := BaselineInitramfs(e.Layout, e.Initrd, bin, img); err != nil {
		b.Fatal(err)
	}
	var sizes []int64
	for _, f := range []string{e.Initrd, img} {
		fi, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	b.Logf("initramfs: cvminit %d bytes, baseline %d bytes (same config and modules)", sizes[0], sizes[1])
	return img
}

func benchBoots(b *testing.B) int {
	b.Helper()
	s := os.Getenv(envBoots)
	if s == "" {
		return 15
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 50 {
		b.Fatalf("%s=%q: want a count from 1 to 50", envBoots, s)
	}
	return n
}

// benchBoot boots once and measures; a boot that does not reach the OS, or
// shows the disk key, ends the benchmark.
func benchBoot(b *testing.B, e *Env, name string, o BootOptions) bootRun {
	b.Helper()
	r, err := e.Boot(context.Background(), name, o)
	if err != nil {
		b.Fatalf("boot %s: %v", name, err)
	}
	if leaks := Leaks(r.Raw, e.Key); len(leaks) > 0 {
		b.Fatalf("boot %s: the disk key appears on the serial console as %v", name, leaks)
	}
	run, err := measureBoot(r)
	if err != nil {
		b.Fatalf("boot %s: %v; serial log %s, last lines:\n%s", name, err, r.SerialLog, lastLines(r.Lines, 30))
	}
	return run
}

// measureBoot checks that r booted into the OS (OK line, then the marker,
// then power off) and reads its times.
func measureBoot(r *Result) (bootRun, error) {
	st, status, err := FinalStatus(r.Lines)
	if err != nil {
		return bootRun{}, err
	}
	if !st.OK || !r.PoweredOff {
		return bootRun{}, fmt.Errorf("status %q, powered off %v: want OK and a power off", status.Text, r.PoweredOff)
	}
	texts := lineTexts(r.Lines)
	at := slices.Index(texts, status.Text)
	up := slices.Index(texts, OSMarker)
	exec := slices.IndexFunc(texts, func(s string) bool { return strings.Contains(s, kernelRunInit) })
	if exec < 0 || up < at {
		return bootRun{}, fmt.Errorf("no %q line, or no %q after the status line", kernelRunInit, OSMarker)
	}
	tl, err := timeline.Parse(bytes.NewReader(r.Raw))
	if err != nil {
		return bootRun{}, err
	}
	run := bootRun{tl: tl, kernel: r.Lines[exec].At, exec: status.At - r.Lines[exec].At, wall: r.Lines[up].At,
		vmhwm: -1, raw: r.Raw}
	if m := vmhwmField.FindSubmatch(r.Raw); m != nil {
		run.vmhwm, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return run, nil
}
