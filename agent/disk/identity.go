package disk

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrIdentityMismatch: the disk's LUKS UUID or header identity differs from
// the one recorded when the disk was sealed (what the broker returned with
// the key). The host attached a disk that was not sealed with this key.
var ErrIdentityMismatch = errors.New("root disk identity differs from the sealed one")

// identityTag opens the canonical encoding and versions it.
const identityTag = "cvminit-luks2-identity-v1"

// Identity is the lower-case hex SHA-256 of the canonical encoding of what
// matters in the validated header. The encoding is UTF-8 text, one
// "name=value" line per item, each ending in "\n", in exactly this order:
//
//	cvminit-luks2-identity-v1
//	uuid=<binary header UUID, lower case>
//	hdr_size=<decimal>
//	offset=<segment offset, decimal bytes>
//	size=<segment size, decimal bytes; 0 for "dynamic">
//	sector_size=<decimal>
//	cipher=<segment encryption>
//	key_size=<volume key bytes, decimal>
//	iv_tweak=<decimal>
//	digest_salt=<digest salt, lower-case hex of the decoded bytes>
//	digest=<digest value, lower-case hex of the decoded bytes>
//	keyslot=<area offset>,<area size>,<KDF salt hex>   (one line per keyslot, by area offset)
//
// The digest salt and value and the keyslot salts are random per header, so
// a header the host makes, even with the same UUID and layout, has another
// identity. Identity returns "" only if m's JSON area cannot be decoded,
// which a Metadata made by CheckRegion or ReadMetadata never has.
func (m *Metadata) Identity() string {
	enc, err := m.canonical()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(enc))
	return hex.EncodeToString(sum[:])
}

func (m *Metadata) canonical() (string, error) {
	if m == nil || uint64(len(m.Region)) < m.HdrSize || m.HdrSize < BinaryHeaderSize {
		return "", rejectf("no validated metadata")
	}
	j, err := decodeJSON(m.Region[BinaryHeaderSize:m.HdrSize])
	if err != nil {
		return "", err
	}
	var b strings.Builder
	line := func(name, value string) { b.WriteString(name + "=" + value + "\n") }
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	b.WriteString(identityTag + "\n")
	line("uuid", strings.ToLower(m.UUID))
	line("hdr_size", u(m.HdrSize))
	line("offset", u(m.Offset))
	line("size", u(m.Size))
	line("sector_size", u(m.SectorSize))
	line("cipher", m.Cipher)
	line("key_size", strconv.Itoa(m.KeySize))
	line("iv_tweak", u(m.IVTweak))
	if len(j.Digests) != 1 {
		return "", rejectf("%d digests, want 1", len(j.Digests))
	}
	for _, d := range j.Digests {
		line("digest_salt", b64hex(d.Salt))
		line("digest", b64hex(d.Digest))
	}
	type slot struct {
		off  uint64
		text string
	}
	slots := make([]slot, 0, len(j.Keyslots))
	for _, k := range j.Keyslots {
		off, _ := canonical(k.Area.Offset)
		size, _ := canonical(k.Area.Size)
		slots = append(slots, slot{off, fmt.Sprintf("%d,%d,%s", off, size, b64hex(k.KDF.Salt))})
	}
	sort.Slice(slots, func(i, k int) bool { return slots[i].off < slots[k].off })
	for _, s := range slots {
		line("keyslot", s.text)
	}
	return b.String(), nil
}

// b64hex re-encodes validated base64 as hex ("" if it does not decode).
func b64hex(s string) string {
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(raw)
}

// Match checks m against the identity recorded at sealing: the UUID
// (case-insensitive) and Identity. A mismatch wraps ErrIdentityMismatch.
func (m *Metadata) Match(uuid, identity string) error {
	if !sameUUID(m.UUID, uuid) {
		return fmt.Errorf("%w: LUKS UUID %s, sealed %s", ErrIdentityMismatch, m.UUID, uuid)
	}
	if got := m.Identity(); got == "" || got != strings.ToLower(identity) {
		return fmt.Errorf("%w: header identity %s, sealed %s", ErrIdentityMismatch, got, identity)
	}
	return nil
}
