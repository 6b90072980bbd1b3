//go:build linux

package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cvminit/cvminit/agent/klog"
	"github.com/cvminit/cvminit/timeline"
)

// Line is one line of serial output and when it was complete, measured
// from the start of the console.
type Line struct {
	Text string // without the line ending
	At   time.Duration
}

// Console collects a guest's serial output: an io.Writer that QEMU's
// stdout is connected to. It keeps the raw bytes, splits them into lines
// (a trailing "\r" is dropped) and copies everything to Log.
type Console struct {
	log    io.Writer
	start  time.Time
	onLine func(Line) // called for each complete line, in order, outside mu

	mu      sync.Mutex
	raw     bytes.Buffer
	lines   []Line
	partial []byte
	mend    timeline.Mender // lines a kernel message cut, joined back
}

// NewConsole returns a console that copies its input to log (nil: none)
// and times lines from now.
func NewConsole(log io.Writer) *Console { return NewWatchedConsole(log, nil) }

// NewWatchedConsole is NewConsole that also hands each complete line to
// onLine (nil: nobody), in order, from the goroutine writing the output.
func NewWatchedConsole(log io.Writer, onLine func(Line)) *Console {
	if log == nil {
		log = io.Discard
	}
	return &Console{log: log, start: time.Now(), onLine: onLine}
}

// Write implements io.Writer. It never fails: a log write error must not
// stop the guest's output from being read.
func (c *Console) Write(p []byte) (int, error) {
	_, _ = c.log.Write(p)
	c.mu.Lock()
	n := len(c.lines)
	c.split(p)
	done := c.lines[n:len(c.lines):len(c.lines)]
	c.mu.Unlock()
	if c.onLine != nil {
		for _, l := range done {
			c.onLine(l)
		}
	}
	return len(p), nil
}

// split appends p to the raw output and its complete lines to c.lines;
// c.mu is held.
func (c *Console) split(p []byte) {
	at := time.Since(c.start)
	c.raw.Write(p)
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		for _, t := range c.mend.Line(string(c.partial[:i])) {
			c.lines = append(c.lines, Line{Text: t, At: at})
		}
		c.partial = c.partial[i+1:]
	}
}

// Lines returns the complete lines so far plus the unterminated rest, if
// any, as a last line.
func (c *Console) Lines() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]Line(nil), c.lines...)
	if rest := c.mend.Rest(); rest != "" {
		out = append(out, Line{Text: rest, At: time.Since(c.start)})
	}
	if len(c.partial) > 0 {
		out = append(out, Line{Text: strings.TrimRight(string(c.partial), "\r"), At: time.Since(c.start)})
	}
	return out
}

// Raw returns a copy of every byte written so far.
func (c *Console) Raw() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.raw.Bytes())
}

// StatusLines returns the lines that mention the status prefix
// ("CVMINIT-STATUS v1"), whether or not they parse.
func StatusLines(lines []Line) []Line {
	var out []Line
	for _, l := range lines {
		if strings.Contains(l.Text, strings.TrimSpace(klog.StatusPrefix)) {
			out = append(out, l)
		}
	}
	return out
}

// FinalStatus returns the one final status line of a boot, parsed with
// klog.ParseStatus. No status line, more than one, or one that does not
// parse is an error.
func FinalStatus(lines []Line) (klog.Status, Line, error) {
	sl := StatusLines(lines)
	if len(sl) != 1 {
		texts := make([]string, len(sl))
		for i, l := range sl {
			texts[i] = l.Text
		}
		return klog.Status{}, Line{}, fmt.Errorf("%d status lines, want exactly 1: %q", len(sl), texts)
	}
	st, ok := klog.ParseStatus(sl[0].Text)
	if !ok {
		return klog.Status{}, sl[0], fmt.Errorf("status line does not parse: %q", sl[0].Text)
	}
	return st, sl[0], nil
}

// Steps returns the parsed per-step lines ("cvminit: step=... status=...
// ms=..."), in order.
func Steps(lines []Line) []klog.StepResult {
	var out []klog.StepResult
	for _, l := range lines {
		if s, ok := klog.ParseStep(l.Text); ok {
			out = append(out, s)
		}
	}
	return out
}

// Leaks returns the names of the encodings of secret found in out: raw
// bytes, hex (either case) and base64 (standard and URL alphabets, padded
// or not). An empty secret is reported as a leak, so that a test can never
// pass by checking nothing.
func Leaks(out, secret []byte) []string {
	if len(secret) == 0 {
		return []string{"empty secret"}
	}
	forms := []struct {
		name string
		b    []byte
	}{
		{"raw", secret},
		{"hex", []byte(hex.EncodeToString(secret))},
		{"HEX", []byte(strings.ToUpper(hex.EncodeToString(secret)))},
		{"base64", []byte(base64.RawStdEncoding.EncodeToString(secret))},
		{"base64url", []byte(base64.RawURLEncoding.EncodeToString(secret))},
	}
	var found []string
	for _, f := range forms {
		if bytes.Contains(out, f.b) {
			found = append(found, f.name)
		}
	}
	return found
}
