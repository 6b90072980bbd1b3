package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cvminit/cvminit/timeline"
)

const timelineUsage = `usage: cvmctl timeline [--baseline BASE.log] [--label NAME] [--baseline-label NAME] LOG > boot.svg

Reads the step lines ("cvminit: step=NAME status=ok ms=N") and the final
CVMINIT-STATUS line of a captured serial console log and writes an SVG time
line to stdout: one bar per step, placed at the sum of the earlier steps,
and the total PID 1 -> switch_root. Kernel messages and other output in the
log are ignored. With --baseline, a second boot (e.g. hack/baseinit's) is
drawn below on the same time axis and the title gives the ratio of the
totals. Labels default to the file names without extension.

flags:`

// timelineArgs are the flags and the argument of cvmctl timeline.
type timelineArgs struct {
	log, baseline, label, baseLabel string
}

func newTimelineFlags(a *timelineArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl timeline", flag.ContinueOnError)
	fs.StringVar(&a.baseline, "baseline", "", "serial log of a boot to compare with, drawn below LOG")
	fs.StringVar(&a.label, "label", "", "name of LOG's boot in the drawing (default: its file name)")
	fs.StringVar(&a.baseLabel, "baseline-label", "", "name of the baseline's boot (default: its file name)")
	return fs
}

// runTimeline implements cvmctl timeline; args start after "timeline".
func runTimeline(args []string, stdout, stderr io.Writer) int {
	a := &timelineArgs{}
	done, err := a.parse(args, stderr)
	if done || err != nil {
		return exitWith(stderr, "cvmctl timeline", err)
	}
	runs, err := a.read()
	if err != nil {
		return exitWith(stderr, "cvmctl timeline", err)
	}
	var b bytes.Buffer // nothing reaches stdout unless the whole SVG was made
	if err := timeline.Render(&b, runs...); err != nil {
		return exitWith(stderr, "cvmctl timeline", err)
	}
	_, err = stdout.Write(b.Bytes())
	return exitWith(stderr, "cvmctl timeline", err)
}

// parse reads flags and the one LOG argument, which may come before,
// between or after the flags.
func (a *timelineArgs) parse(args []string, stderr io.Writer) (bool, error) {
	pos, done, err := parseInterspersed(newTimelineFlags(a), args, timelineUsage, stderr)
	if done || err != nil {
		return done, err
	}
	if len(pos) != 1 {
		return false, usagef("want exactly one LOG argument, got %d (cvmctl timeline --help)", len(pos))
	}
	a.log = pos[0]
	return false, nil
}

// read parses LOG and, with --baseline, the baseline's log.
func (a *timelineArgs) read() ([]timeline.Timeline, error) {
	t, err := readTimeline(a.log, a.label)
	if err != nil {
		return nil, err
	}
	runs := []timeline.Timeline{t}
	if a.baseline != "" {
		b, err := readTimeline(a.baseline, a.baseLabel)
		if err != nil {
			return nil, err
		}
		runs = append(runs, b)
	}
	return runs, nil
}

// readTimeline parses the serial log file; label "" means the file name
// without its extension.
func readTimeline(file, label string) (timeline.Timeline, error) {
	f, err := os.Open(file)
	if err != nil {
		return timeline.Timeline{}, err
	}
	defer f.Close()
	t, err := timeline.Parse(f)
	if err != nil {
		return timeline.Timeline{}, fmt.Errorf("%s: %w", file, err)
	}
	t.Label = label
	if t.Label == "" {
		base := filepath.Base(file)
		t.Label = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return t, nil
}
