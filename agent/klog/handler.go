// Package klog is cvminit's logging: a log/slog handler that writes
// "<prio>cvminit: msg k=v ..." records to the kernel log (/dev/kmsg) and
// mirrors warnings and errors to the console, plus the serial-console
// status protocol of DESIGN.md §5 (step lines, the single final
// CVMINIT-STATUS line, and their parsers) and its closed list of failure
// codes.
//
// Protocol lines are written to the console directly, at the start of a
// line, and to the kernel log at debug priority only, so that the kernel's
// own console echo (which carries a "[  2.31] " timestamp and is suppressed
// below the console log level) never looks like a second status line.
//
// The handler is written here because the standard text handler neither
// speaks the kmsg priority prefix nor bounds records to the kernel's line
// limit.
package klog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// MaxLine bounds one kernel-log record in bytes, priority prefix included
// (the kernel's limit is about 1 KiB).
const MaxLine = 900

// Options configure a Handler. The zero value discards everything.
type Options struct {
	// Kmsg receives one Write per record (normally /dev/kmsg); nil: none.
	Kmsg io.Writer
	// Console receives warnings, errors and protocol lines; nil: none.
	// If it has a Drain() error method, Flush calls it.
	Console io.Writer
	// Level is the minimum level logged; nil means slog.LevelInfo.
	Level slog.Leveler
}

// sink is the state shared by a Handler and its derived handlers.
type sink struct {
	mu      sync.Mutex
	kmsg    io.Writer
	console io.Writer
	level   slog.Leveler
}

// Handler is a slog.Handler for the guest. It is safe for concurrent use;
// handlers derived with WithAttrs and WithGroup share its outputs.
type Handler struct {
	s      *sink
	attrs  string // preformatted " k=v" pairs
	groups string // "a.b." prefix for keys
}

// New returns a Handler writing to o's outputs.
func New(o Options) *Handler {
	lv := o.Level
	if lv == nil {
		lv = slog.LevelInfo
	}
	return &Handler{s: &sink{kmsg: o.Kmsg, console: o.Console, level: lv}}
}

// SetKmsg replaces the kernel-log output (it appears once /dev is mounted).
func (h *Handler) SetKmsg(w io.Writer) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.kmsg = w
}

// SetConsole replaces the console output.
func (h *Handler) SetConsole(w io.Writer) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.console = w
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.s.level.Level()
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		appendAttr(&b, h.groups, a)
	}
	return &Handler{s: h.s, attrs: h.attrs + b.String(), groups: h.groups}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &Handler{s: h.s, attrs: h.attrs, groups: h.groups + name + "."}
}

// Handle implements slog.Handler: one kmsg record, and for warnings and
// errors one console line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("cvminit: ")
	b.WriteString(escape(r.Message))
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.groups, a)
		return true
	})
	body := b.String()
	errK := h.writeKmsg(priority(r.Level), body)
	var errC error
	if r.Level >= slog.LevelWarn {
		errC = h.writeConsole(mirror(r.Level, body))
	}
	return errors.Join(errK, errC)
}

// Step writes the line that ends a step (see StepLine) and waits until the
// console has sent it (Flush): the kernel writes its own messages straight
// to the serial port, so a record logged right after a line still in the
// tty's buffer would otherwise land inside it.
func (h *Handler) Step(name, status string, ms int64) {
	line := StepLine(name, status, ms)
	_ = h.writeKmsg(7, line)
	_ = h.writeConsole(line)
	_ = h.Flush()
}

// Final writes the final status line and waits until the console has sent
// it. Callers print exactly one per boot.
func (h *Handler) Final(st Status) {
	line := st.String()
	_ = h.writeKmsg(7, "cvminit: "+line)
	_ = h.writeConsole(line)
	_ = h.Flush()
}

// Flush waits until the console has transmitted what was written, when the
// console supports it (Drain). Writes are not buffered otherwise.
func (h *Handler) Flush() error {
	h.s.mu.Lock()
	c := h.s.console
	h.s.mu.Unlock()
	if d, ok := c.(interface{ Drain() error }); ok {
		return d.Drain()
	}
	return nil
}

func (h *Handler) writeKmsg(prio int, body string) error {
	line := "<" + strconv.Itoa(prio) + ">" + body
	line = truncate(line, MaxLine) + "\n"
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.kmsg == nil {
		return nil
	}
	_, err := io.WriteString(h.s.kmsg, line)
	return err
}

func (h *Handler) writeConsole(line string) error {
	line = truncate(line, MaxLine) + "\n"
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.console == nil {
		return nil
	}
	_, err := io.WriteString(h.s.console, line)
	return err
}

// priority maps a slog level to a syslog severity (facility 0 becomes
// "user" in the kernel).
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// mirror turns "cvminit: msg" into "cvminit: WARN msg" for the console.
func mirror(l slog.Level, body string) string {
	tag := "WARN "
	if l >= slog.LevelError {
		tag = "ERROR "
	}
	return "cvminit: " + tag + strings.TrimPrefix(body, "cvminit: ")
}
