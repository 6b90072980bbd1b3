package timeline

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cvminit/cvminit/agent/klog"
)

// Layout of the drawing, in SVG user units (pixels).
const (
	width      = 1000.0
	chartX     = 170.0 // left edge of the time axis; step names end left of it
	chartW     = 700.0 // the longest boot's axis; the ms labels go right of it
	titleH     = 56.0
	panelHead  = 26.0
	rowH       = 20.0
	barH       = 14.0
	panelGap   = 14.0
	axisH      = 34.0
	maxNameLen = 22 // longer step names are shortened in the drawing (never in the tooltip)
)

// Colours: ok and failed steps, the implied switchroot bar, grid and text.
const (
	colOK      = "#4e79a7"
	colFail    = "#e15759"
	colImplied = "#a0cbe8"
	colGrid    = "#dddddd"
	colText    = "#222222"
	// halo keeps a label readable where it crosses a line.
	halo = ` stroke="#ffffff" stroke-width="3" paint-order="stroke"`
)

// Render writes the SVG of the boots, one panel each, top to bottom, on one
// time axis (so that bar lengths compare across panels). With two boots the
// title gives the ratio of their totals, first over second. The output
// depends on the time lines only.
func Render(w io.Writer, runs ...Timeline) error {
	if len(runs) == 0 {
		return errors.New("timeline: nothing to draw")
	}
	var s svg
	s.scale(runs)
	s.header(runs)
	y := titleH
	for _, t := range runs {
		y = s.panel(t, y)
	}
	s.axis(titleH, y)
	s.b.WriteString("</svg>\n")
	if _, err := w.Write(s.out()); err != nil {
		return fmt.Errorf("writing SVG: %w", err)
	}
	return nil
}

// svg accumulates the drawing's body; out wraps it in the document element
// once the height is known.
type svg struct {
	b      bytes.Buffer
	axisMS int64   // the axis spans 0..axisMS
	tick   int64   // ms between grid lines
	px     float64 // pixels per ms
	height float64
}

// scale picks the axis: the longest total rounded up to a whole tick, with
// ticks of 1, 2 or 5 times a power of ten, at most 10 of them.
func (s *svg) scale(runs []Timeline) {
	var longest int64 = 1
	for _, t := range runs {
		longest = max(longest, t.TotalMS)
	}
	s.tick = niceTick(longest)
	s.axisMS = (longest + s.tick - 1) / s.tick * s.tick
	s.px = chartW / float64(s.axisMS)
}

func niceTick(ms int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if ms <= 10*m*p {
				return m * p
			}
		}
	}
}

func (s *svg) header(runs []Timeline) {
	fmt.Fprintf(&s.b, `<text x="%s" y="24" font-size="16" font-weight="bold">Boot timeline: PID 1 → switch_root</text>`+"\n",
		num(chartX-150))
	sub := "one bar per step, in the order the steps ran"
	if len(runs) == 2 && runs[1].TotalMS > 0 {
		sub = fmt.Sprintf("%s / %s: %.2f× (%d ms / %d ms)", runs[0].Label, runs[1].Label,
			float64(runs[0].TotalMS)/float64(runs[1].TotalMS), runs[0].TotalMS, runs[1].TotalMS)
	}
	fmt.Fprintf(&s.b, `<text x="%s" y="44" fill="#555555">%s</text>`+"\n", num(chartX-150), esc(sub))
	x := 560.0
	for _, l := range []struct{ fill, text string }{
		{colOK, "step"}, {colFail, "failed step"}, {colImplied, "no step line (total_ms − printed steps)"},
	} {
		fmt.Fprintf(&s.b, `<rect x="%s" y="35" width="10" height="10" fill="%s"/><text x="%s" y="44" fill="#555555">%s</text>`+"\n",
			num(x), l.fill, num(x+14), esc(l.text))
		x += 24 + 6.5*float64(utf8.RuneCountInString(l.text))
	}
}

// panel draws one boot from y and returns where the next panel starts.
func (s *svg) panel(t Timeline, y float64) float64 {
	label := t.Label
	if label == "" {
		label = "boot"
	}
	head := fmt.Sprintf("%s: %d ms, %s", label, t.TotalMS, t.Outcome())
	fmt.Fprintf(&s.b, `<g class="panel"><text class="panel-title" x="%s" y="%s" font-weight="bold">%s</text>`+"\n",
		num(chartX-150), num(y+17), esc(head))
	top := y + panelHead
	bottom := top + float64(len(t.Bars))*rowH
	x := num(chartX + float64(t.TotalMS)*s.px) // the total's line goes under the bars and labels
	fmt.Fprintf(&s.b, `<line class="total" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-dasharray="4 3"/>`,
		x, num(top-4), x, num(bottom), colText)
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="middle"%s>total %d ms</text>`+"\n", x, num(top-7), halo, t.TotalMS)
	for i, bar := range t.Bars {
		s.bar(bar, top+float64(i)*rowH)
	}
	s.b.WriteString("</g>\n")
	return bottom + panelGap
}

func (s *svg) bar(b Bar, y float64) {
	fill := colOK
	switch {
	case b.Status != klog.StepOK:
		fill = colFail
	case b.Implied:
		fill = colImplied
	}
	x, wd := chartX+float64(b.StartMS)*s.px, float64(b.MS)*s.px
	tip := fmt.Sprintf("%s: %d ms, %d → %d ms", b.Name, b.MS, b.StartMS, b.EndMS())
	if b.Implied {
		tip += " (no step line: total_ms minus the printed steps)"
	}
	if b.Status != klog.StepOK {
		tip += " (" + b.Status + ")"
	}
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="end">%s</text>`, num(chartX-8), num(y+barH-3), esc(short(b.Name)))
	fmt.Fprintf(&s.b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
		num(x), num(y), num(wd), num(barH), fill, esc(tip))
	fmt.Fprintf(&s.b, `<text class="ms" x="%s" y="%s"%s>%d ms</text>`+"\n", num(x+wd+4), num(y+barH-3), halo, b.MS)
}

// axis draws the grid lines behind the panels and the tick labels below.
func (s *svg) axis(top, bottom float64) {
	var g strings.Builder
	g.WriteString(`<g class="grid">` + "\n")
	for ms := int64(0); ms <= s.axisMS; ms += s.tick {
		x := num(chartX + float64(ms)*s.px)
		fmt.Fprintf(&g, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, x, num(top), x, num(bottom), colGrid)
		fmt.Fprintf(&g, `<text x="%s" y="%s" text-anchor="middle" fill="#555555">%d</text>`+"\n", x, num(bottom+14), ms)
	}
	fmt.Fprintf(&g, `<text x="%s" y="%s" text-anchor="middle" fill="#555555">ms since PID 1 started</text>`+"\n",
		num(chartX+chartW/2), num(bottom+30))
	g.WriteString("</g>\n")
	s.height = bottom + axisH
	grid := g.String()
	body := s.b.String()
	s.b.Reset()
	s.b.WriteString(grid) // first, so that the bars are drawn over it
	s.b.WriteString(body)
}

func (s *svg) out() []byte {
	var o bytes.Buffer
	o.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&o, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" `+
		`font-family="sans-serif" font-size="12" fill="%s">`+"\n", num(width), num(s.height), num(width), num(s.height), colText)
	fmt.Fprintf(&o, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	o.Write(s.b.Bytes())
	return o.Bytes()
}

// num formats a coordinate with at most two decimals.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) }

// esc escapes s for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// short shortens a step name for the drawing.
func short(name string) string {
	r := []rune(name)
	if len(r) <= maxNameLen {
		return name
	}
	return string(r[:maxNameLen-1]) + "…"
}
