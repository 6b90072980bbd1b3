package config

import (
	"fmt"
	"strings"
)

// Kernel command-line keys the guest honours. Nothing else on the command
// line changes cvminit's behaviour: in particular init=, rdinit= and rd.*
// are ignored (SECURITY.md H8). The command line is part of the launch
// measurement, but the honoured set is kept minimal all the same.
const (
	// CmdlineLog overrides log.level: debug, info, warn or error.
	CmdlineLog = "cvminit.log"
)

// MaxCmdline bounds the command line ParseCmdline reads.
const MaxCmdline = 64 << 10

// Cmdline is what the kernel command line asks of cvminit.
type Cmdline struct {
	// LogLevel is the value of cvminit.log, or "" when absent.
	LogLevel string
	// Ignored lists other cvminit.* keys found, so that they can be
	// reported; they have no effect.
	Ignored []string
}

// ParseCmdline reads a kernel command line (the content of /proc/cmdline).
// Parameters are separated by spaces; double quotes group spaces into a
// value and are removed, as the kernel does; "--" ends the kernel's part.
// When a key repeats, the last value wins. An invalid value of an honoured
// key is an error (wrapping ErrInvalid) and leaves that key unset; unknown keys
// are not errors.
func ParseCmdline(s string) (Cmdline, error) {
	var c Cmdline
	if len(s) > MaxCmdline {
		return c, fmt.Errorf("%w: kernel command line of %d bytes, limit %d", ErrInvalid, len(s), MaxCmdline)
	}
	logSet := false
	for _, p := range splitCmdline(s) {
		if p == "--" {
			break
		}
		key, val, _ := strings.Cut(p, "=")
		switch {
		case key == CmdlineLog:
			c.LogLevel, logSet = val, true
		case strings.HasPrefix(key, "cvminit."):
			c.Ignored = append(c.Ignored, key)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
		return c, nil
	}
	if !logSet {
		return c, nil
	}
	err := fmt.Errorf("%w: %s=%q: want debug, info, warn or error", ErrInvalid, CmdlineLog, c.LogLevel)
	c.LogLevel = ""
	return c, err
}

// splitCmdline splits on unquoted whitespace and drops double quotes.
func splitCmdline(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, inParam := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote, inParam = !inQuote, true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if inParam {
				out = append(out, cur.String())
				cur.Reset()
			}
			inParam = false
		default:
			cur.WriteRune(r)
			inParam = true
		}
	}
	if inParam {
		out = append(out, cur.String())
	}
	return out
}
