package timeline

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
)

// node is any XML element, for reading the SVG back.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) num(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s %s=%q>: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// walk calls f for n and every element below it, in document order.
func (n node) walk(f func(node)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

func render(t *testing.T, runs ...Timeline) (node, []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, runs...); err != nil {
		t.Fatal(err)
	}
	var root node
	if err := xml.Unmarshal(b.Bytes(), &root); err != nil {
		t.Fatalf("the SVG is not XML: %v\n%s", err, b.Bytes())
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element %v, want svg in the SVG namespace", root.XMLName)
	}
	return root, b.Bytes()
}

func mustParse(t *testing.T, label, log string) Timeline {
	t.Helper()
	tl, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	tl.Label = label
	return tl
}

// Every step of every boot is one bar; widths are proportional to the
// step's ms and positions to its start, with one scale for all panels.
func TestRenderBarsProportional(t *testing.T) {
	a := mustParse(t, "cvminit", realLog)
	b := mustParse(t, "baseline", "cvminit: step=mounts status=ok ms=5\ncvminit: step=modules status=ok ms=600\n"+
		"cvminit: step=disk status=fail ms=45\n")
	root, _ := render(t, a, b)
	var bars []node
	root.walk(func(n node) {
		if n.XMLName.Local == "rect" && n.attr("class") == "bar" {
			bars = append(bars, n)
		}
	})
	// Hand-written from realLog (9 bars, switchroot implied) and the three above.
	wantMS := []float64{13, 6, 71, 1225, 65, 303, 214, 74, 29, 5, 600, 45}
	wantStart := []float64{0, 13, 19, 90, 1315, 1380, 1683, 1897, 1971, 0, 5, 605}
	if len(bars) != len(wantMS) {
		t.Fatalf("%d bars, want %d", len(bars), len(wantMS))
	}
	x0 := bars[0].num(t, "x")
	px := bars[3].num(t, "width") / 1225 // pixels per ms, from the longest bar
	for i, bar := range bars {
		if w := bar.num(t, "width"); math.Abs(w-wantMS[i]*px) > 0.02 {
			t.Errorf("bar %d: width %v, want %v (%v ms)", i, w, wantMS[i]*px, wantMS[i])
		}
		if x := bar.num(t, "x"); math.Abs(x-x0-wantStart[i]*px) > 0.02 {
			t.Errorf("bar %d: x %v, want %v (starts at %v ms)", i, x, x0+wantStart[i]*px, wantStart[i])
		}
	}
	if f := bars[len(bars)-1].attr("fill"); f == bars[0].attr("fill") {
		t.Errorf("the failed step is drawn like an ok one (%s)", f)
	}
	if f := bars[8].attr("fill"); f == bars[0].attr("fill") {
		t.Errorf("the implied switchroot bar is drawn like a printed step (%s)", f)
	}
}

// The title of a comparison gives the ratio of the totals; each panel its
// label, total and outcome.
func TestRenderTexts(t *testing.T) {
	a := mustParse(t, "cvminit", "cvminit: step=a status=ok ms=300\nCVMINIT-STATUS v1 OK root=r init=/i total_ms=300\n")
	b := mustParse(t, "baseline", "cvminit: step=a status=ok ms=200\n")
	_, out := render(t, a, b)
	for _, want := range []string{"cvminit / baseline: 1.50×", "cvminit: 300 ms, OK", "baseline: 200 ms, no final status line"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

// Step names and labels reach the SVG escaped: the XML parses and reads
// back the original text.
func TestRenderEscapes(t *testing.T) {
	name := `<b>&amp;"x"`
	tl := mustParse(t, `lab<el> & "co"`, `cvminit: step="<b>&amp;\"x\"" status=ok ms=12`+"\n")
	if tl.Bars[0].Name != name {
		t.Fatalf("parsed name %q, want %q", tl.Bars[0].Name, name)
	}
	root, out := render(t, tl)
	var texts []string
	root.walk(func(n node) { texts = append(texts, n.Text) })
	all := strings.Join(texts, "\n")
	for _, want := range []string{name, `lab<el> & "co": 12 ms, no final status line`} {
		if !strings.Contains(all, want) {
			t.Errorf("text %q not found in the parsed SVG", want)
		}
	}
	if bytes.Contains(out, []byte("<b>")) {
		t.Error("raw <b> in the SVG")
	}
}

func TestRenderDeterministic(t *testing.T) {
	a, b := mustParse(t, "x", realLog), mustParse(t, "y", realLog)
	_, first := render(t, a, b)
	_, second := render(t, a, b)
	if !bytes.Equal(first, second) {
		t.Error("two renderings of the same time lines differ")
	}
}

func TestRenderNothing(t *testing.T) {
	if err := Render(&bytes.Buffer{}); err == nil {
		t.Error("Render of no time line succeeded")
	}
}

func TestNiceTick(t *testing.T) {
	for ms, want := range map[int64]int64{1: 1, 10: 1, 11: 2, 95: 10, 2087: 500, 700: 100, 30010: 5000} {
		if got := niceTick(ms); got != want {
			t.Errorf("niceTick(%d) = %d, want %d", ms, got, want)
		}
	}
}
