package tpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// writeCounter records every Write call.
type writeCounter struct {
	calls [][]byte
	n     int // bytes to accept per call; 0 accepts all
	err   error
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(p))
	if w.err != nil {
		return 0, w.err
	}
	if w.n > 0 && w.n < len(p) {
		return w.n, nil
	}
	return len(p), nil
}

func TestWriteRecordExactBytes(t *testing.T) {
	d := sha256.Sum256([]byte("exe"))
	var w writeCounter
	if err := WriteRecord(&w, Event{PCR: 11, Name: "cvminit-binary", Digest: d}); err != nil {
		t.Fatal(err)
	}
	want := "\x1e" + `{"pcr":11,"digests":[{"hashAlg":"sha256","digest":"` + hex.EncodeToString(d[:]) +
		`"}],"content_type":"cvminit","content":{"string":"cvminit-binary"}}` + "\n"
	if len(w.calls) != 1 {
		t.Fatalf("WriteRecord made %d Write calls, want 1", len(w.calls))
	}
	if got := string(w.calls[0]); got != want {
		t.Fatalf("record\n got %q\nwant %q", got, want)
	}
}

func TestWriteRecordRefuses(t *testing.T) {
	d := sha256.Sum256(nil)
	tests := []struct {
		name string
		e    Event
		w    writeCounter
		want string
	}{
		{"pcr 24", Event{24, "x", d}, writeCounter{}, "PCR 24 outside 0-23"},
		{"pcr -1", Event{-1, "x", d}, writeCounter{}, "PCR -1 outside 0-23"},
		{"no name", Event{11, "", d}, writeCounter{}, "without a name"},
		{"short write", Event{11, "x", d}, writeCounter{n: 5}, io.ErrShortWrite.Error()},
		{"write error", Event{11, "x", d}, writeCounter{err: errors.New("disk full")}, "disk full"},
	}
	for _, tt := range tests {
		err := WriteRecord(&tt.w, tt.e)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestLogRoundTrip(t *testing.T) {
	events := []Event{
		BinaryEvent([]byte("exe")),
		ConfigEvent([]byte("{}")),
		PhaseEvent(PhaseEnterInitrd),
		CmdlineEvent("ro quiet"),
		DiskEvent("3f1c2e4a-0000-4000-8000-00000000abcd", strings.Repeat("ab", 32)),
		VerityEvent(strings.Repeat("cd", 32)),
		PhaseEvent(PhaseLeaveInitrd),
		Measure(0, `odd "name" <&> é`, nil),
		Measure(23, "last pcr", nil),
	}
	var buf bytes.Buffer
	for _, e := range events {
		if err := WriteRecord(&buf, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ParseLog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, events) {
		t.Fatalf("ParseLog(WriteRecord(events))\n got %+v\nwant %+v", got, events)
	}
}

func TestParseLogEmpty(t *testing.T) {
	got, err := ParseLog(strings.NewReader(""))
	if err != nil || len(got) != 0 {
		t.Fatalf("ParseLog(empty) = %v, %v; want no events, no error", got, err)
	}
}

// TestParseLogSystemdRecord reads a record as systemd-pcrphase writes it
// (every bank, content_type "systemd", an "eventType") after one of ours.
func TestParseLogSystemdRecord(t *testing.T) {
	s256 := sha256.Sum256([]byte("sysinit"))
	log := ours(11, "x") + "\x1e" + `{"pcr":11,"digests":[` +
		`{"hashAlg":"sha1","digest":"` + strings.Repeat("11", 20) + `"},` +
		`{"hashAlg":"sha256","digest":"` + hex.EncodeToString(s256[:]) + `"},` +
		`{"hashAlg":"sha384","digest":"` + strings.Repeat("22", 48) + `"},` +
		`{"hashAlg":"sha512","digest":"` + strings.Repeat("33", 64) + `"}],` +
		`"content_type":"systemd","content":{"eventType":"phase","string":"sysinit"}}` + "\n"
	got, err := ParseLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := Event{PCR: 11, Name: "sysinit", Digest: s256}
	if len(got) != 2 || got[1] != want {
		t.Fatalf("ParseLog = %+v, want second event %+v", got, want)
	}
}

// ours returns a well-formed record built by hand.
func ours(pcr int, name string) string {
	return "\x1e" + `{"pcr":` + strconv.Itoa(pcr) + `,"digests":[{"hashAlg":"sha256","digest":"` +
		strings.Repeat("00", 32) + `"}],"content_type":"cvminit","content":{"string":"` + name + `"}}` + "\n"
}

func TestParseLogRefuses(t *testing.T) {
	good := ours(1, "ok")
	dig := strings.Repeat("ab", 32)
	rec := func(body string) string { return "\x1e" + body + "\n" }
	tests := []struct {
		name, log, want string
	}{
		{"no RS", `{"pcr":1}` + "\n", "record 1: does not start with RS"},
		{"truncated", good + strings.TrimSuffix(good, "\n"), "record 2: not terminated by LF"},
		{"trailing RS", good + "\x1e", "record 2: not terminated by LF"},
		{"not JSON", good + rec("pcr=11"), "record 2: decoding JSON"},
		{"two texts", rec(`{"pcr":1} {}`), "record 1: data after the JSON object"},
		{"unknown field", rec(`{"pcr":1,"extra":true}`), `record 1: decoding JSON: json: unknown field "extra"`},
		{"no pcr", rec(`{"digests":[],"content_type":"c","content":{"string":"x"}}`), `record 1: missing "pcr"`},
		{"pcr 24", rec(`{"pcr":24,"digests":[],"content_type":"c","content":{"string":"x"}}`), "record 1: PCR 24 outside 0-23"},
		{"pcr -1", good + rec(`{"pcr":-1,"digests":[],"content_type":"c","content":{"string":"x"}}`), "record 2: PCR -1 outside"},
		{"pcr float", rec(`{"pcr":1.5}`), "record 1: decoding JSON"},
		{"no content_type", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"` + dig + `"}],"content":{"string":"x"}}`), `record 1: missing "content_type"`},
		{"no content", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"` + dig + `"}],"content_type":"c"}`), `record 1: missing "content"`},
		{"no string", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"` + dig + `"}],"content_type":"c","content":{}}`), `record 1: missing "content"."string"`},
		{"no digests", rec(`{"pcr":1,"content_type":"c","content":{"string":"x"}}`), "record 1: no sha256 digest"},
		{"sha1 only", rec(`{"pcr":1,"digests":[{"hashAlg":"sha1","digest":"` + strings.Repeat("ab", 20) + `"}],"content_type":"c","content":{"string":"x"}}`), "record 1: no sha256 digest"},
		{"unknown alg", good + good + rec(`{"pcr":1,"digests":[{"hashAlg":"md5","digest":"`+dig+`"}],"content_type":"c","content":{"string":"x"}}`), `record 3: digest 1: unknown hash algorithm "md5"`},
		{"short digest", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"abcd"}],"content_type":"c","content":{"string":"x"}}`), "record 1: digest 1: sha256 digest \"abcd\" is not 32 bytes"},
		{"not hex", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"` + strings.Repeat("zz", 32) + `"}],"content_type":"c","content":{"string":"x"}}`), "record 1: digest 1: sha256 digest"},
		{"two sha256", rec(`{"pcr":1,"digests":[{"hashAlg":"sha256","digest":"` + dig + `"},{"hashAlg":"sha256","digest":"` + dig + `"}],"content_type":"c","content":{"string":"x"}}`), "record 1: two sha256 digests"},
	}
	for _, tt := range tests {
		got, err := ParseLog(strings.NewReader(tt.log))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseLog = %v, %v; want error containing %q", tt.name, got, err, tt.want)
		}
	}
}

// FuzzParseLog: ParseLog never panics, and what it accepts survives a
// WriteRecord/ParseLog round trip unchanged.
func FuzzParseLog(f *testing.F) {
	f.Add([]byte(ours(1, "a") + ours(9, "b")))
	f.Add([]byte("\x1e{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ParseLog(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		for _, e := range events {
			if err := WriteRecord(&buf, e); err != nil {
				t.Fatalf("accepted event %+v not writable: %v", e, err)
			}
		}
		again, err := ParseLog(&buf)
		if err != nil || !reflect.DeepEqual(again, events) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, events)
		}
	})
}
