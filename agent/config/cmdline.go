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

// ParseCmdline reads a kernel command line (the content of /proc/cmdline),
// splitting it into parameters as the kernel does (splitCmdline); "--"
// ends the kernel's part.
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
		if p.key == "--" && !p.hasVal {
			break
		}
		key, val := p.key, p.val
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

// param is one parameter of a kernel command line: key, or key=val.
type param struct {
	key, val string
	hasVal   bool
}

// splitCmdline splits s into parameters as the kernel's next_arg() does, so
// that a key means to cvminit what it means to the kernel: a parameter ends
// at whitespace outside double quotes; its key ends at its first "=" (not
// counting one in first place); a double quote that opens the parameter or
// its value is dropped, with the one that ends the parameter; any other
// quote stays, so `"cvmi"nit.log=x` is not cvminit.log.
func splitCmdline(s string) []param {
	var out []param
	for {
		s = strings.TrimLeftFunc(s, isKernelSpace)
		if s == "" {
			return out
		}
		var p param
		p, s = nextParam(s)
		out = append(out, p)
	}
}

// nextParam takes the parameter s starts with (s starts with no space) and
// returns it with the rest of s.
func nextParam(s string) (param, string) {
	quoted := s[0] == '"'
	if quoted {
		s = s[1:]
	}
	end, eq, inQuote := len(s), 0, quoted
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isKernelSpace(rune(c)) && !inQuote {
			end = i
			break
		}
		if eq == 0 && c == '=' {
			eq = i
		}
		if c == '"' {
			inQuote = !inQuote
		}
	}
	arg, rest := s[:end], s[end:]
	trim := quoted // the kernel drops one closing quote: the value's, else the parameter's
	if eq == 0 {
		if trim {
			arg = strings.TrimSuffix(arg, `"`)
		}
		return param{key: arg}, rest
	}
	key, val := arg[:eq], arg[eq+1:]
	if v, ok := strings.CutPrefix(val, `"`); ok {
		val, trim = v, true
	}
	if trim {
		val = strings.TrimSuffix(val, `"`)
	}
	return param{key: key, val: val, hasVal: true}, rest
}

// isKernelSpace is the kernel's isspace() for ASCII: space, \t, \n, \v, \f
// and \r.
func isKernelSpace(r rune) bool {
	return r == ' ' || (r >= '\t' && r <= '\r')
}
