package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// canary is a recognisable pattern; none of its renderings may leak.
var canary = []byte("CANARY-KEY-0123456789abcdef-XYZ!")

func leaks(t *testing.T, out string) {
	t.Helper()
	forms := []string{
		string(canary),
		fmt.Sprintf("%x", canary),
		fmt.Sprintf("%X", canary),
		fmt.Sprintf("%v", canary),
		fmt.Sprintf("%d", canary),
		"Q0FOQVJZ", // base64 prefix of "CANARY"
	}
	for _, f := range forms {
		if strings.Contains(out, f) {
			t.Fatalf("output reveals the secret (%q) in: %s", f, out)
		}
	}
}

func TestFormattingNeverReveals(t *testing.T) {
	buf := FromBytes(bytes.Clone(canary))
	want := "secret(32 bytes)"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-40s"} {
		out := fmt.Sprintf(verb, buf)
		leaks(t, out)
		if !strings.Contains(out, want) {
			t.Errorf("Sprintf(%q) = %q, want it to contain %q", verb, out, want)
		}
	}
	// A struct copy printed by value shows only a pointer.
	leaks(t, fmt.Sprintf("%v %+v %#v", *buf, *buf, *buf))
	if got := buf.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestJSONAndSlogNeverReveal(t *testing.T) {
	buf := FromBytes(bytes.Clone(canary))
	j, err := json.Marshal(struct{ Key *Buffer }{buf})
	if err != nil {
		t.Fatal(err)
	}
	leaks(t, string(j))
	if string(j) != `{"Key":"secret(32 bytes)"}` {
		t.Errorf("json = %s", j)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "key", buf)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "key", buf, slog.Any("k2", buf))
	leaks(t, out.String())
	if strings.Count(out.String(), "secret(32 bytes)") != 3 {
		t.Errorf("slog output lacks the description: %s", out.String())
	}
}

func TestFromBytesZeroesSource(t *testing.T) {
	src := bytes.Clone(canary)
	buf := FromBytes(src)
	if !bytes.Equal(buf.Bytes(), canary) {
		t.Fatalf("Bytes() = %q, want the canary", buf.Bytes())
	}
	if !bytes.Equal(src, make([]byte, len(canary))) {
		t.Fatalf("source not zeroed: %q", src)
	}
}

func TestWipe(t *testing.T) {
	buf := FromBytes(bytes.Clone(canary))
	view := buf.Bytes() // an alias the caller kept
	copyOfStruct := *buf
	buf.Wipe()
	if !bytes.Equal(view, make([]byte, len(canary))) {
		t.Fatalf("backing array not zeroed: %q", view)
	}
	if buf.Len() != 0 || buf.Bytes() != nil || copyOfStruct.Len() != 0 {
		t.Fatalf("after Wipe: Len=%d Bytes=%v copy.Len=%d", buf.Len(), buf.Bytes(), copyOfStruct.Len())
	}
	buf.Wipe() // idempotent
	var nilBuf *Buffer
	nilBuf.Wipe() // nil-safe
	if nilBuf.Len() != 0 || nilBuf.Bytes() != nil || nilBuf.String() != "secret(0 bytes)" {
		t.Fatalf("nil buffer misbehaves: %d %v %q", nilBuf.Len(), nilBuf.Bytes(), nilBuf.String())
	}
	var zero Buffer
	zero.Wipe()
	if zero.Len() != 0 {
		t.Fatal("zero Buffer not empty")
	}
}

func TestNew(t *testing.T) {
	tests := []struct{ n, want int }{{0, 0}, {-3, 0}, {1, 1}, {4097, 4097}}
	for _, tc := range tests {
		b := New(tc.n)
		if b.Len() != tc.want || !bytes.Equal(b.Bytes(), make([]byte, tc.want)) {
			t.Errorf("New(%d): Len=%d, want %d zero bytes", tc.n, b.Len(), tc.want)
		}
	}
}
