package tpm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// LogPath is where the event log is written: systemd's tpm2-measure.log,
// which systemd keeps appending to after switch_root (cvminit's /run becomes
// the new root's /run). Create it with mode 0600.
const LogPath = "/run/log/systemd/tpm2-measure.log"

// ContentType is the "content_type" of cvminit's records (systemd's own
// records say "systemd").
const ContentType = "cvminit"

// JSON-SEQ framing (RFC 7464): each record is RS, one JSON text, LF.
const (
	recordSeparator = 0x1e
	recordEnd       = '\n'
)

// digestSize returns the digest size of a hash algorithm a record may carry,
// by systemd's names. systemd logs every allocated bank; cvminit only sha256,
// which every record must have.
func digestSize(alg string) (int, bool) {
	switch alg {
	case "sha1":
		return 20, true
	case "sha256":
		return 32, true
	case "sha384":
		return 48, true
	case "sha512":
		return 64, true
	}
	return 0, false
}

// record is one tpm2-measure.log record, fields in systemd's order.
type record struct {
	PCR         *int            `json:"pcr"`
	Digests     []recordDigest  `json:"digests"`
	ContentType string          `json:"content_type"`
	Content     json.RawMessage `json:"content"`
}

type recordDigest struct {
	HashAlg string `json:"hashAlg"`
	Digest  string `json:"digest"`
}

// content is the part of a record's "content" cvminit reads; systemd adds
// fields of its own (e.g. "eventType"), which are ignored.
type content struct {
	String *string `json:"string"`
}

// WriteRecord appends e to w as one JSON-SEQ record, in a single Write call
// (so an O_APPEND file never holds half a record from cvminit).
func WriteRecord(w io.Writer, e Event) error {
	if err := checkEvent(e); err != nil {
		return fmt.Errorf("writing event log record: %w", err)
	}
	b, err := encodeRecord(e)
	if err != nil {
		return fmt.Errorf("writing event log record %q: %w", e.Name, err)
	}
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("writing event log record %q: %w", e.Name, err)
	}
	return nil
}

func encodeRecord(e Event) ([]byte, error) {
	name, err := json.Marshal(content{String: &e.Name})
	if err != nil {
		return nil, err
	}
	pcr := e.PCR
	r := record{
		PCR:         &pcr,
		Digests:     []recordDigest{{HashAlg: "sha256", Digest: hex.EncodeToString(e.Digest[:])}},
		ContentType: ContentType,
		Content:     name,
	}
	var buf bytes.Buffer
	buf.WriteByte(recordSeparator)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil { // Encode ends the text with LF
		return nil, err
	}
	return buf.Bytes(), nil
}

func checkEvent(e Event) error {
	if e.PCR < 0 || e.PCR > maxPCR {
		return fmt.Errorf("PCR %d outside 0-%d", e.PCR, maxPCR)
	}
	if e.Name == "" {
		return errors.New("event without a name")
	}
	return nil
}

// ParseLog reads a tpm2-measure.log back into events, taking each record's
// sha256 digest. It is strict: a log not framed as RS, JSON, LF records, a
// record with unknown fields, missing fields, a PCR outside 0-23, an unknown
// hash algorithm, a malformed digest or no sha256 digest is an error naming
// the record (counted from 1). An empty log has no events.
func ParseLog(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	first, err := br.ReadByte()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading event log: %w", err)
	}
	if first != recordSeparator {
		return nil, fmt.Errorf("event log record 1: does not start with RS (0x1e)")
	}
	var events []Event
	for n := 1; ; n++ {
		text, err := br.ReadBytes(recordSeparator)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("reading event log record %d: %w", n, err)
		}
		last := err != nil
		if !last {
			text = text[:len(text)-1]
		}
		e, perr := parseRecord(text)
		if perr != nil {
			return nil, fmt.Errorf("event log record %d: %w", n, perr)
		}
		events = append(events, e)
		if last {
			return events, nil
		}
	}
}

// parseRecord decodes one record's text (between RS and the next RS).
func parseRecord(text []byte) (Event, error) {
	body, ok := bytes.CutSuffix(text, []byte{recordEnd})
	if !ok {
		return Event{}, errors.New("not terminated by LF (truncated?)")
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Event{}, fmt.Errorf("decoding JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, errors.New("data after the JSON object")
	}
	return r.event()
}

func (r record) event() (Event, error) {
	var e Event
	switch {
	case r.PCR == nil:
		return e, errors.New(`missing "pcr"`)
	case *r.PCR < 0 || *r.PCR > maxPCR:
		return e, fmt.Errorf("PCR %d outside 0-%d", *r.PCR, maxPCR)
	case r.ContentType == "":
		return e, errors.New(`missing "content_type"`)
	}
	e.PCR = *r.PCR
	var err error
	if e.Name, err = r.name(); err != nil {
		return e, err
	}
	e.Digest, err = sha256Digest(r.Digests)
	return e, err
}

func (r record) name() (string, error) {
	if len(r.Content) == 0 {
		return "", errors.New(`missing "content"`)
	}
	var c content
	if err := json.Unmarshal(r.Content, &c); err != nil {
		return "", fmt.Errorf(`decoding "content": %w`, err)
	}
	if c.String == nil || *c.String == "" {
		return "", errors.New(`missing "content"."string"`)
	}
	return *c.String, nil
}

// sha256Digest checks every digest of a record and returns the sha256 one.
func sha256Digest(ds []recordDigest) ([32]byte, error) {
	var out [32]byte
	found := false
	for i, d := range ds {
		raw, err := checkDigest(d)
		if err != nil {
			return out, fmt.Errorf("digest %d: %w", i+1, err)
		}
		if d.HashAlg != "sha256" {
			continue
		}
		if found {
			return out, errors.New("two sha256 digests")
		}
		copy(out[:], raw)
		found = true
	}
	if !found {
		return out, errors.New("no sha256 digest")
	}
	return out, nil
}

func checkDigest(d recordDigest) ([]byte, error) {
	size, ok := digestSize(d.HashAlg)
	if !ok {
		return nil, fmt.Errorf("unknown hash algorithm %q", d.HashAlg)
	}
	raw, err := hex.DecodeString(d.Digest)
	if err != nil || len(raw) != size {
		return nil, fmt.Errorf("%s digest %q is not %d bytes of hex", d.HashAlg, d.Digest, size)
	}
	return raw, nil
}
