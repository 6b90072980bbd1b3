package klog

import (
	"encoding"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// appendAttr writes " key=value" for a, resolving LogValuers and
// flattening groups.
func appendAttr(b *strings.Builder, groups string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		prefix := groups
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, prefix, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(quoteIfNeeded(groups + a.Key))
	b.WriteByte('=')
	b.WriteString(quoteIfNeeded(valueText(a.Value)))
}

// valueText renders v. Byte slices are never printed, only their length,
// and values of other types only through their String, Error or MarshalText
// methods (which is how secret.Buffer redacts itself): nothing logged by
// accident can leak key material that way.
func valueText(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		return anyText(v.Any())
	}
	return v.String()
}

func anyText(x any) string {
	switch t := x.(type) {
	case []byte:
		return fmt.Sprintf("[%d bytes]", len(t))
	case error:
		return t.Error()
	case fmt.Stringer:
		return t.String()
	case encoding.TextMarshaler:
		b, err := t.MarshalText()
		if err != nil {
			return "!ERROR:" + err.Error()
		}
		return string(b)
	case []string:
		return strings.Join(t, ",")
	}
	return fmt.Sprintf("(%T)", x)
}

// quoteIfNeeded quotes s (Go syntax) when it is empty or holds spaces,
// quotes, '=' or anything not printable.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r == '\\' || !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// escape makes a message one line: control characters become Go escapes.
func escape(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' || r == utf8.RuneError }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
