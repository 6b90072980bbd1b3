// Package timeline turns the step lines of a captured serial console log
// (DESIGN.md §5: "cvminit: step=NAME status=ok ms=N" and the final
// CVMINIT-STATUS line, parsed with agent/klog) into a boot time line, one
// bar per step, and draws it as an SVG in the manner of `systemd-analyze
// plot`, one boot or several on a shared time axis.
//
// Step lines are printed one after the other as each step ends, so a step
// starts where the previous one ended: its start is the sum of the earlier
// durations, counted from PID 1's start. A successful boot's last step,
// switchroot, prints no step line (it execs the new init); its bar is
// implied: the OK line's total_ms minus the printed steps (which also holds
// the up to 1 ms per step that truncating to whole milliseconds loses).
// Lines a kernel message cut in two are joined back first (Mender, which
// the e2e tests' console reader uses too).
//
// The SVG is written by hand (fmt, encoding/xml's escaping): the output is
// small, fixed in layout and deterministic, which no plotting library offers
// without pulling in a rendering stack.
package timeline

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cvminit/cvminit/agent/klog"
)

// MaxLog bounds the serial log Parse reads, in bytes.
const MaxLog = 64 << 20

// ImpliedStep names the bar made of the OK line's total_ms minus the
// printed steps: cvminit's switchroot step prints no line when it succeeds.
const ImpliedStep = "switchroot"

// ErrNoSteps reports a log without a single step line.
var ErrNoSteps = errors.New("no step lines (cvminit: step=NAME status=ok ms=N) in the log")

// Bar is one step of a boot.
type Bar struct {
	Name    string
	Status  string // klog.StepOK or klog.StepFail
	StartMS int64  // from PID 1's start: the sum of the earlier steps
	MS      int64
	// Implied marks the bar that no step line printed: the OK line's
	// total_ms minus the printed steps (see ImpliedStep).
	Implied bool
}

// EndMS is where the bar ends.
func (b Bar) EndMS() int64 { return b.StartMS + b.MS }

// Timeline is one boot.
type Timeline struct {
	// Label names the boot in the drawing (e.g. "cvminit", "baseline").
	Label string
	Bars  []Bar
	// TotalMS is PID 1 → switch_root: the OK line's total_ms, or the sum
	// of the steps when the boot failed or printed no final line.
	TotalMS int64
	// Final is the parsed final status line; nil when the log has none.
	Final *klog.Status
}

// Bar returns the bar of the step name.
func (t Timeline) Bar(name string) (Bar, bool) {
	for _, b := range t.Bars {
		if b.Name == name {
			return b, true
		}
	}
	return Bar{}, false
}

// Outcome describes how the boot ended, e.g. "OK" or "FAIL DISK_NOT_FOUND
// in disk".
func (t Timeline) Outcome() string {
	switch {
	case t.Final == nil:
		return "no final status line"
	case t.Final.OK:
		return "OK"
	}
	return fmt.Sprintf("FAIL %s in %s", t.Final.Code, t.Final.Step)
}

// Parse reads a serial log (kernel messages, garbage and CRLF line endings
// are tolerated) and returns the time line of its boot. When a step repeats
// or follows a final status line, a new boot (a reboot) started: the last
// boot of the log is returned. A log without step lines is ErrNoSteps.
func Parse(r io.Reader) (Timeline, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxLog+1))
	if err != nil {
		return Timeline{}, fmt.Errorf("reading log: %w", err)
	}
	if len(b) > MaxLog {
		return Timeline{}, fmt.Errorf("log larger than %d MiB", MaxLog>>20)
	}
	return ParseLines(strings.Split(string(b), "\n"))
}

// ParseLines is Parse over lines already split (line endings tolerated).
func ParseLines(lines []string) (Timeline, error) {
	var p parser
	var m Mender
	for _, l := range lines {
		for _, piece := range m.Line(l) {
			p.line(piece)
		}
	}
	return p.finish()
}

// parser collects the steps and the final line of the current boot.
type parser struct {
	bars  []Bar
	sum   int64
	final *klog.Status
}

func (p *parser) line(s string) {
	if st, ok := klog.ParseStep(s); ok {
		p.step(st)
		return
	}
	if st, ok := klog.ParseStatus(s); ok {
		p.final = &st
	}
}

func (p *parser) step(st klog.StepResult) {
	if p.final != nil || p.has(st.Name) { // a new boot began
		*p = parser{}
	}
	p.bars = append(p.bars, Bar{Name: st.Name, Status: st.Status, StartMS: p.sum, MS: st.MS})
	p.sum += st.MS
}

func (p *parser) has(name string) bool {
	for _, b := range p.bars {
		if b.Name == name {
			return true
		}
	}
	return false
}

func (p *parser) finish() (Timeline, error) {
	if len(p.bars) == 0 {
		return Timeline{}, ErrNoSteps
	}
	t := Timeline{Bars: p.bars, TotalMS: p.sum, Final: p.final}
	if p.final == nil || !p.final.OK || p.final.TotalMS <= p.sum {
		return t, nil
	}
	name := ImpliedStep
	if p.has(name) {
		name = "rest"
	}
	t.Bars = append(t.Bars, Bar{Name: name, Status: klog.StepOK, StartMS: p.sum, MS: p.final.TotalMS - p.sum,
		Implied: true})
	t.TotalMS = p.final.TotalMS
	return t, nil
}
