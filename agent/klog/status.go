package klog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// StatusPrefix opens every final status line (DESIGN.md §5).
const StatusPrefix = "CVMINIT-STATUS v1 "

// StepPrefix opens every per-step line.
const StepPrefix = "cvminit: step="

// MaxHint bounds the hint of a FAIL line, in bytes before quoting.
const MaxHint = 240

// Step outcomes used in step lines.
const (
	StepOK   = "ok"
	StepFail = "fail"
)

// What the OK line's tpm field says about the TPM measurements.
const (
	// TPMMeasured: the boot was measured into the TPM.
	TPMMeasured = "measured"
	// TPMAbsent: tpm.mode auto found no TPM; nothing was measured.
	TPMAbsent = "absent"
	// TPMOff: tpm.mode off; nothing was measured.
	TPMOff = "off"
)

// Status is one final status line.
//
//	CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=2310 tpm=measured
//	CVMINIT-STATUS v1 FAIL code=KEY_REFUSED step=key hint="broker refused the key: ..."
//
// The OK line's fields come in this order; tpm= (TPMMeasured, TPMAbsent or
// TPMOff) is last and optional: lines from before it existed, like
// DESIGN.md §5's example, still parse (with TPM "").
type Status struct {
	OK bool
	// Root, Init and TotalMS describe a successful boot.
	Root    string
	Init    string
	TotalMS int64
	// TPM says what became of the TPM measurements of a successful boot;
	// "" leaves the field out.
	TPM string
	// Code, Step and Hint describe a failure. The hint is free text for
	// humans; it is quoted (Go syntax) so that it can hold any character.
	Code Code
	Step string
	Hint string
}

// bareValue is what a k=v value may hold unquoted.
var bareValue = regexp.MustCompile(`^[A-Za-z0-9_./:+@-]+$`)

// String renders s as its status line, without a newline. The hint is
// truncated to MaxHint bytes and always quoted; other values are quoted
// when they hold anything but a conservative character set.
func (s Status) String() string {
	if s.OK {
		line := fmt.Sprintf("%sOK root=%s init=%s total_ms=%d", StatusPrefix, value(s.Root), value(s.Init), s.TotalMS)
		if s.TPM != "" {
			line += " tpm=" + value(s.TPM)
		}
		return line
	}
	return fmt.Sprintf("%sFAIL code=%s step=%s hint=%s", StatusPrefix, value(string(s.Code)), value(s.Step),
		strconv.Quote(truncate(s.Hint, MaxHint)))
}

func value(v string) string {
	if bareValue.MatchString(v) {
		return v
	}
	return strconv.Quote(v)
}

// ParseStatus parses a final status line as printed on the console. The
// line must start with StatusPrefix (a leading carriage return and a
// trailing line ending are tolerated), carry exactly the fields String
// writes, in that order, a documented code and, in an OK line, no tpm
// value but TPMMeasured, TPMAbsent or TPMOff (or no tpm field). Anything
// else is not a status line: kernel echoes ("[ 2.31] cvminit: ...") and
// log text that merely mentions the prefix are rejected.
func ParseStatus(line string) (Status, bool) {
	rest, ok := strings.CutPrefix(trimLine(line), StatusPrefix)
	if !ok {
		return Status{}, false
	}
	kind, rest, _ := strings.Cut(rest, " ")
	switch kind {
	case "OK":
		return parseOK(rest)
	case "FAIL":
		return parseFail(rest)
	}
	return Status{}, false
}

func parseOK(rest string) (Status, bool) {
	v, ok := fields(rest, "root", "init", "total_ms", "tpm")
	if ok && !validTPM(v[3]) {
		return Status{}, false
	}
	if !ok {
		if v, ok = fields(rest, "root", "init", "total_ms"); !ok {
			return Status{}, false
		}
		v = append(v, "")
	}
	ms, err := strconv.ParseInt(v[2], 10, 64)
	if err != nil || ms < 0 || v[0] == "" || v[1] == "" {
		return Status{}, false
	}
	return Status{OK: true, Root: v[0], Init: v[1], TotalMS: ms, TPM: v[3]}, true
}

// validTPM reports whether v is a value of the OK line's tpm field.
func validTPM(v string) bool {
	return v == TPMMeasured || v == TPMAbsent || v == TPMOff
}

func parseFail(rest string) (Status, bool) {
	v, ok := fields(rest, "code", "step", "hint")
	if !ok || !Code(v[0]).Valid() || v[1] == "" {
		return Status{}, false
	}
	return Status{Code: Code(v[0]), Step: v[1], Hint: v[2]}, true
}

// fields reads exactly the given keys, in order, as space-separated k=v
// pairs whose values are bare or Go-quoted.
func fields(s string, keys ...string) ([]string, bool) {
	out := make([]string, 0, len(keys))
	for i, k := range keys {
		rest, ok := strings.CutPrefix(s, k+"=")
		if !ok {
			return nil, false
		}
		v, n, ok := readValue(rest)
		if !ok {
			return nil, false
		}
		out = append(out, v)
		s = rest[n:]
		if i < len(keys)-1 {
			if s, ok = strings.CutPrefix(s, " "); !ok {
				return nil, false
			}
		}
	}
	return out, s == ""
}

// readValue reads one value at the start of s and returns it and the bytes
// it used.
func readValue(s string) (string, int, bool) {
	if strings.HasPrefix(s, `"`) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", 0, false
		}
		v, err := strconv.Unquote(q)
		return v, len(q), err == nil
	}
	n := strings.IndexByte(s, ' ')
	if n < 0 {
		n = len(s)
	}
	if !bareValue.MatchString(s[:n]) {
		return "", 0, false
	}
	return s[:n], n, true
}

func trimLine(line string) string {
	return strings.TrimLeft(strings.TrimRight(line, "\r\n"), "\r")
}

// StepLine renders the line printed when a step ends, e.g.
// "cvminit: step=attest status=ok ms=41".
func StepLine(name, status string, ms int64) string {
	return fmt.Sprintf("%s%s status=%s ms=%d", StepPrefix, value(name), value(status), ms)
}

// StepResult is a parsed step line.
type StepResult struct {
	Name   string
	Status string // StepOK or StepFail
	MS     int64
}

// ParseStep parses a step line as printed on the console (same tolerance
// as ParseStatus).
func ParseStep(line string) (StepResult, bool) {
	rest, ok := strings.CutPrefix(trimLine(line), "cvminit: ")
	if !ok {
		return StepResult{}, false
	}
	v, ok := fields(rest, "step", "status", "ms")
	if !ok || (v[1] != StepOK && v[1] != StepFail) {
		return StepResult{}, false
	}
	ms, err := strconv.ParseInt(v[2], 10, 64)
	if err != nil || ms < 0 || v[0] == "" {
		return StepResult{}, false
	}
	return StepResult{Name: v[0], Status: v[1], MS: ms}, true
}

// truncate shortens s to at most n bytes on a UTF-8 boundary, marking the
// cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
