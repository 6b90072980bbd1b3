package timeline

import (
	"strings"

	"github.com/cvminit/cvminit/agent/klog"
)

// Mender rebuilds the lines of a serial console on which the kernel's
// messages and a guest's own lines interleave, for readers of the status
// protocol. The kernel writes to the serial port past the tty, so one of
// its messages can land inside a line cvminit is writing: the message ends
// with its own newline, and the rest of cvminit's line follows on the next
// line (seen: "cvminit: step=mo[    4.257860] IPv6: ... link becomes
// ready", then "unt status=ok ms=135"). Feed it the console's lines in
// order; its zero value is ready to use.
type Mender struct {
	// cut is the start of a line a kernel message interrupted, waiting
	// for its rest: the next piece that is not a kernel message.
	cut string
}

// Line takes one console line (without its line ending) and returns the
// lines it completes: the line split where kernel messages begin inside
// it, a piece that ends a line cut earlier joined to that line's start,
// and a start of one of cvminit's lines cut off by a kernel message held
// back until its rest comes. A start that is already a whole step or
// status line, or cannot begin a line of cvminit's (firmware output before
// the kernel's first message, say), is not held back.
func (m *Mender) Line(s string) []string {
	pieces := splitKernel(strings.TrimRight(s, "\r"))
	if m.cut != "" && !IsKernelLine(pieces[0]) {
		pieces[0], m.cut = m.cut+pieces[0], ""
	}
	if len(pieces) > 1 && mayBeCut(pieces[0]) {
		m.cut, pieces = pieces[0], pieces[1:]
	}
	return pieces
}

// mayBeCut reports whether s can be the start of a line cvminit writes
// that is not complete yet.
func mayBeCut(s string) bool {
	if s == "" || isProtocolLine(s) {
		return false
	}
	for _, p := range []string{"cvminit: ", klog.StatusPrefix} {
		if strings.HasPrefix(s, p) || strings.HasPrefix(p, s) {
			return true
		}
	}
	return false
}

// Rest returns a line start still waiting for its rest, or "".
func (m *Mender) Rest() string { return m.cut }

// IsKernelLine reports whether s starts with a kernel message's stamp.
func IsKernelLine(s string) bool { return stampLen(s) > 0 }

// stampLen is the length of the "[   12.345678] " that starts every kernel
// message on the console, if s starts with one, else 0.
func stampLen(s string) int {
	i := 1
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i, n = i+1, n+1
		}
		return n
	}
	if digits() == 0 || i >= len(s) || s[i] != '.' {
		return 0
	}
	i++
	if digits() != 6 || !strings.HasPrefix(s[i:], "] ") {
		return 0
	}
	return i + 2
}

// nextStamp is the index of the first kernel stamp in s at or after from,
// or -1.
func nextStamp(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == '[' && stampLen(s[i:]) > 0 {
			return i
		}
	}
	return -1
}

// isProtocolLine reports whether s is a whole step or status line.
func isProtocolLine(s string) bool {
	_, step := klog.ParseStep(s)
	_, status := klog.ParseStatus(s)
	return step || status
}

// splitKernel splits a line where a kernel message begins inside it.
func splitKernel(line string) []string {
	var out []string
	for {
		i := nextStamp(line, 1) // a stamp at 0 starts this piece
		if i < 0 {
			return append(out, line)
		}
		out, line = append(out, line[:i]), line[i:]
	}
}
