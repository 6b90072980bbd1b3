package disk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/cvminit/cvminit/agent/secret"
)

// ErrPayloadInvalid wraps every refusal of ParsePayload and Marshal.
var ErrPayloadInvalid = errors.New("invalid disk key payload")

// Payload versions: 1 without, 2 with the dm-verity description.
const (
	PayloadVersion       = 1
	PayloadVersionVerity = 2
)

// MaxPayloadKey bounds the disk key (a LUKS passphrase) in a payload.
const MaxPayloadKey = 512

var identityText = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Payload is the secret the broker stores as the disk's resource and
// releases to a guest that passes policy: the LUKS passphrase together
// with the identity of the disk it was sealed for. Its JSON form is
//
//	{"version":1,"key":"<std base64>","luks_uuid":"<uuid>","header_sha256":"<Metadata.Identity()>"}
//
// with exactly these four members, or version 2 with a fifth member
// "verity" (see Verity) describing the hash tree that protects the file
// system inside the decrypted volume.
type Payload struct {
	// Key is the LUKS passphrase (1..MaxPayloadKey bytes).
	Key *secret.Buffer
	// LUKSUUID is the sealed disk's LUKS UUID.
	LUKSUUID string
	// HeaderSHA256 is the sealed disk's Metadata.Identity().
	HeaderSHA256 string
	// Verity, when set, describes the dm-verity hash tree inside the
	// decrypted volume (payload version 2).
	Verity *Verity
}

// check validates the non-secret members and the key length.
func (p *Payload) check() error {
	switch n := p.Key.Len(); {
	case n == 0 || n > MaxPayloadKey:
		return fmt.Errorf("%w: key of %d bytes, want 1..%d", ErrPayloadInvalid, n, MaxPayloadKey)
	case !uuidText.MatchString(p.LUKSUUID):
		return fmt.Errorf("%w: luks_uuid %q", ErrPayloadInvalid, p.LUKSUUID)
	case !identityText.MatchString(p.HeaderSHA256):
		return fmt.Errorf("%w: header_sha256 %q: want 64 lower-case hex digits", ErrPayloadInvalid, p.HeaderSHA256)
	case p.Verity != nil:
		return p.Verity.Check()
	}
	return nil
}

// Marshal returns the payload's JSON form. The result holds the key in
// base64: it is the secret to store as the broker resource, and the caller
// should clear it after use.
func (p Payload) Marshal() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	k := p.Key.Bytes()
	out := make([]byte, 0, 192+base64.StdEncoding.EncodedLen(len(k))) // room for all: no copy left behind
	version := PayloadVersion
	if p.Verity != nil {
		version = PayloadVersionVerity
	}
	out = fmt.Appendf(out, `{"version":%d,"key":"`, version)
	out = base64.StdEncoding.AppendEncode(out, k)
	out = fmt.Appendf(out, `","luks_uuid":"%s","header_sha256":"%s"`, p.LUKSUUID, p.HeaderSHA256)
	if v := p.Verity; v != nil {
		out = fmt.Appendf(out, `,"verity":{"root_hash":"%s","salt":"%s","algorithm":"%s","data_block_size":%d,`+
			`"hash_block_size":%d,"data_blocks":%d,"hash_offset":%d}`, v.RootHash, v.Salt, v.Algorithm,
			v.DataBlockSize, v.HashBlockSize, v.DataBlocks, v.HashOffset)
	}
	return append(out, '}'), nil
}

// ParsePayload decodes a payload strictly: a single JSON object with
// exactly the members version (1), key, luks_uuid and header_sha256, each
// once, names in that exact spelling. The key is decoded straight from b
// into a secret.Buffer; b itself is not changed (the caller wipes it).
func ParsePayload(b []byte) (*Payload, error) {
	if err := checkPayloadMembers(b); err != nil {
		return nil, err
	}
	var w payloadJSON
	if err := json.Unmarshal(b, &w); err != nil {
		w.Key.buf.Wipe()
		return nil, fmt.Errorf("%w: %v", ErrPayloadInvalid, err)
	}
	p := &Payload{Key: w.Key.buf, LUKSUUID: w.UUID.s, HeaderSHA256: w.Identity.s, Verity: w.Verity.v}
	want := "1"
	if w.Verity.set {
		want = "2"
	}
	if w.Version.quoted || w.Version.s != want || !w.UUID.quoted || !w.Identity.quoted || w.Verity.set && w.Verity.v == nil {
		p.Key.Wipe()
		return nil, fmt.Errorf("%w: want version %d (a number; %d with verity) and string luks_uuid and header_sha256",
			ErrPayloadInvalid, PayloadVersion, PayloadVersionVerity)
	}
	if err := p.check(); err != nil {
		p.Key.Wipe()
		return nil, err
	}
	return p, nil
}

var payloadMembers = map[string]bool{"version": true, "key": true, "luks_uuid": true, "header_sha256": true}

// checkPayloadMembers requires exactly the four member names (five with
// verity), exactly spelled (encoding/json would match names
// case-insensitively). Member values are skipped without being copied.
func checkPayloadMembers(b []byte) error {
	var names map[string]skipJSON
	if err := json.Unmarshal(b, &names); err != nil || names == nil {
		return fmt.Errorf("%w: not a JSON object", ErrPayloadInvalid)
	}
	want := len(payloadMembers)
	for n := range names {
		switch {
		case n == "verity":
			want++
		case !payloadMembers[n]:
			return fmt.Errorf("%w: unknown member %q", ErrPayloadInvalid, n)
		}
	}
	if len(names) != want {
		return fmt.Errorf("%w: want exactly the members version, key, luks_uuid, header_sha256 (and verity)", ErrPayloadInvalid)
	}
	return nil
}

type payloadJSON struct {
	Version  onceJSON   `json:"version"`
	Key      keyJSON    `json:"key"`
	UUID     onceJSON   `json:"luks_uuid"`
	Identity onceJSON   `json:"header_sha256"`
	Verity   verityJSON `json:"verity"`
}

// skipJSON accepts any value without keeping it.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// onceJSON is a string or number member that may appear only once.
type onceJSON struct {
	s      string
	set    bool
	quoted bool
}

func (o *onceJSON) UnmarshalJSON(b []byte) error {
	if o.set {
		return errors.New("duplicate member")
	}
	o.set = true
	if len(b) > 0 && b[0] == '"' {
		o.quoted = true
		return json.Unmarshal(b, &o.s)
	}
	o.s = string(b)
	return nil
}

// keyJSON decodes the key member's base64 straight into a secret.Buffer.
// The JSON string must hold no escapes (std base64 needs none).
type keyJSON struct{ buf *secret.Buffer }

func (k *keyJSON) UnmarshalJSON(b []byte) error {
	if k.buf != nil {
		return errors.New("duplicate member key")
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b[1:len(b)-1], '\\') >= 0 {
		return errors.New("key: want a base64 string without escapes")
	}
	text := b[1 : len(b)-1]
	tmp := secret.New(base64.StdEncoding.DecodedLen(len(text)))
	defer tmp.Wipe()
	n, err := base64.StdEncoding.Strict().Decode(tmp.Bytes(), text)
	if err != nil {
		return errors.New("key: not standard base64")
	}
	k.buf = secret.FromBytes(tmp.Bytes()[:n])
	return nil
}
