package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	cvminitLog = "[    3.092862] Run /init as init process\r\n" +
		"cvminit: step=mounts status=ok ms=10\r\n" +
		"[    3.387995] cvminit: cvminit starting pid1=true\r\n" +
		"cvminit: step=modules status=ok ms=900\r\n" +
		"CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=1000 tpm=absent\r\n"
	baseLog = "cvminit: step=mounts status=ok ms=5\n" +
		"cvminit: step=modules status=ok ms=395\n" +
		"CVMINIT-STATUS v1 OK root=/dev/vda init=/sbin/init total_ms=400\n"
)

func writeLog(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// countBars parses svg as XML and counts its step bars.
func countBars(t *testing.T, svg []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	n := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF {
				t.Fatalf("output is not XML: %v", err)
			}
			return n
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "class" && a.Value == "bar" {
					n++
				}
			}
		}
	}
}

func TestTimelineOneLog(t *testing.T) {
	log := writeLog(t, "boot.log", cvminitLog)
	var out, errb bytes.Buffer
	if code := run([]string{"timeline", log}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// mounts, modules and the implied switchroot (1000 - 910 ms).
	if n := countBars(t, out.Bytes()); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	if !bytes.Contains(out.Bytes(), []byte("boot: 1000 ms, OK")) {
		t.Error("the panel is not labelled with the file name, total and outcome")
	}
}

// The baseline is drawn below LOG, flags may follow LOG, and the title
// gives the ratio 1000/400.
func TestTimelineBaseline(t *testing.T) {
	log, base := writeLog(t, "cvminit.log", cvminitLog), writeLog(t, "base.log", baseLog)
	var out, errb bytes.Buffer
	code := run([]string{"timeline", log, "--baseline", base, "--baseline-label", "baseline"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if n := countBars(t, out.Bytes()); n != 5 {
		t.Errorf("%d bars, want 3 + 2", n)
	}
	s := out.String()
	if !strings.Contains(s, "cvminit / baseline: 2.50×") || strings.Index(s, "cvminit: 1000 ms") > strings.Index(s, "baseline: 400 ms") {
		t.Errorf("want the ratio 2.50× and LOG's panel first:\n%s", s)
	}
}

func TestTimelineErrors(t *testing.T) {
	empty := writeLog(t, "empty.log", "[    1.000000] only the kernel\r\nCONFIDENTIAL-OS-UP\r\n")
	good := writeLog(t, "good.log", cvminitLog)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no step lines", []string{empty}, 1, "no step lines"},
		{"baseline without steps", []string{good, "--baseline", empty}, 1, "empty.log: no step lines"},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.log")}, 1, "no such file"},
		{"no log", nil, 2, "exactly one LOG"},
		{"two logs", []string{good, good}, 2, "exactly one LOG"},
		{"bad flag", []string{"--bogus", good}, 2, "bogus"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"timeline"}, c.args...), &out, &errb)
		lines := strings.Count(errb.String(), "\n")
		if code != c.code || !strings.Contains(errb.String(), c.want) || lines != 1 || out.Len() != 0 {
			t.Errorf("%s: exit %d, stderr %q (%d lines), stdout %d bytes; want exit %d, one line with %q, no output",
				c.name, code, errb.String(), lines, out.Len(), c.code, c.want)
		}
	}
}
