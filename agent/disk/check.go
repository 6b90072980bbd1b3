package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// Layout is what a validated header says; the dm-crypt table is built from
// these values only.
type Layout struct {
	UUID       string `json:"uuid"`        // as written in the binary header
	HdrSize    uint64 `json:"hdr_size"`    // bytes of one header copy
	Offset     uint64 `json:"offset"`      // data segment offset in bytes = size of the metadata region
	Size       uint64 `json:"size"`        // data segment size in bytes; 0 means "dynamic" (to the end of the device)
	SectorSize uint64 `json:"sector_size"` // 512 or 4096
	IVTweak    uint64 `json:"iv_tweak"`    // always 0
	KeySize    int    `json:"key_size"`    // volume key bytes (64: AES-256-XTS)
	Cipher     string `json:"cipher"`      // dm-crypt cipher spec ("aes-xts-plain64")
	Keyslots   int    `json:"keyslots"`    // number of keyslots
}

// Allow-list constants (SECURITY.md, "LUKS2 allow-list").
const (
	// Cipher is the only segment and keyslot-area cipher accepted.
	Cipher = "aes-xts-plain64"
	// VolumeKeySize is the only volume key size accepted (AES-256-XTS).
	// luks.go sizes the volume key from key_size, so 0 would make an empty
	// key whose digest the host can compute without any secret.
	VolumeKeySize = 64
	afStripes     = 4000
	saltSize      = 32 // cryptsetup's keyslot and digest salt size
	maxKeyslots   = 32 // LUKS2_KEYSLOTS_MAX
	maxTokens     = 32 // LUKS2_TOKENS_MAX
	areaAlign     = 4096
)

// Check validates one LUKS2 header copy: hdr holds at least the primary
// header (hdr_size bytes). It verifies the binary header and its sha256
// checksum, decodes the JSON area with unknown and duplicate members refused
// and checks it against the exact allow-list of SECURITY.md. If uuid is not
// empty the header's UUID must equal it. Every refusal wraps
// ErrHeaderRejected and names the field and value. Check never panics.
func Check(hdr []byte, uuid string) (Layout, error) {
	l, _, err := check(hdr, uuid)
	return l, err
}

// check is Check that also returns the keyslot areas.
func check(hdr []byte, uuid string) (Layout, []span, error) {
	bin, err := ParseBinary(hdr)
	if err != nil {
		return Layout{}, nil, err
	}
	if uint64(len(hdr)) < bin.HdrSize {
		return Layout{}, nil, rejectf("header truncated: %d of hdr_size %d bytes", len(hdr), bin.HdrSize)
	}
	if uuid != "" && !sameUUID(bin.UUID, uuid) {
		return Layout{}, nil, rejectf("uuid %q, want %s", bin.UUID, uuid)
	}
	area := hdr[:bin.HdrSize]
	if err := checkChecksum("primary", area); err != nil {
		return Layout{}, nil, err
	}
	m, err := decodeJSON(area[BinaryHeaderSize:])
	if err != nil {
		return Layout{}, nil, err
	}
	l, areas, err := m.check(bin.HdrSize)
	l.UUID = bin.UUID
	return l, areas, err
}

func (m *metadataJSON) check(hdrSize uint64) (Layout, []span, error) {
	ksEnd, err := m.Config.check(hdrSize)
	if err != nil {
		return Layout{}, nil, err
	}
	if err := checkTokens(m.Tokens); err != nil {
		return Layout{}, nil, err
	}
	segID, l, err := m.checkSegment(ksEnd)
	if err != nil {
		return Layout{}, nil, err
	}
	l.HdrSize = hdrSize
	areas, err := checkKeyslots(m.Keyslots, 2*hdrSize, ksEnd)
	if err != nil {
		return Layout{}, nil, err
	}
	l.Keyslots = len(m.Keyslots)
	return l, areas, m.checkDigests(segID)
}

// canonical parses a decimal number written the one way cryptsetup writes
// it (no sign, no leading zeros), so every reader sees the same value.
func canonical(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && strconv.FormatUint(n, 10) == s
}

// id parses a keyslot, token, segment or digest name: a canonical number
// below limit (luks.go reads the names as integers).
func id(s string, limit uint64) bool {
	n, ok := canonical(s)
	return ok && n < limit
}

// check returns the end of the keyslots area (2*hdr_size + keyslots_size).
// config.flags is ignored: dm flags come from the measured config.
func (c *configJSON) check(hdrSize uint64) (uint64, error) {
	if js, ok := canonical(c.JSONSize); !ok || js != hdrSize-BinaryHeaderSize {
		return 0, rejectf("config.json_size %q, want %d", c.JSONSize, hdrSize-BinaryHeaderSize)
	}
	ks, ok := canonical(c.KeyslotsSize)
	if !ok || ks == 0 || ks%areaAlign != 0 || ks > MaxMetadata {
		return 0, rejectf("config.keyslots_size %q", c.KeyslotsSize)
	}
	if c.Requirements != nil && string(bytes.TrimSpace(*c.Requirements)) != "[]" {
		return 0, rejectf("config.requirements %s, want absent or empty", *c.Requirements)
	}
	return 2*hdrSize + ks, nil
}

// checkTokens allows tokens (a systemd or clevis token does no harm) but
// never interprets them: each must only be a JSON object under a valid id.
func checkTokens(tokens map[string]json.RawMessage) error {
	for k, v := range tokens {
		if !id(k, maxTokens) || !isObject(v) {
			return rejectf("tokens.%q is not a token object", k)
		}
	}
	return nil
}

func (m *metadataJSON) checkSegment(ksEnd uint64) (string, Layout, error) {
	if len(m.Segments) != 1 {
		return "", Layout{}, rejectf("%d segments, want 1", len(m.Segments))
	}
	var segID string
	for segID = range m.Segments {
	}
	sg := m.Segments[segID]
	off, offOK := canonical(sg.Offset)
	size, sizeOK := canonical(sg.Size)
	ss := uint64(sg.SectorSize)
	switch {
	case !id(segID, maxKeyslots):
		return "", Layout{}, rejectf("segment id %q", segID)
	case sg.Type != "crypt":
		return "", Layout{}, rejectf("segments.%s.type %q, want crypt", segID, sg.Type)
	case sg.Encryption != Cipher:
		return "", Layout{}, rejectf("segments.%s.encryption %q, want %s", segID, sg.Encryption, Cipher)
	case sg.SectorSize != 512 && sg.SectorSize != 4096:
		return "", Layout{}, rejectf("segments.%s.sector_size %d, want 512 or 4096", segID, sg.SectorSize)
	case sg.IVTweak != "0":
		return "", Layout{}, rejectf("segments.%s.iv_tweak %q, want \"0\"", segID, sg.IVTweak)
	case sg.Integrity != nil:
		return "", Layout{}, rejectf("segments.%s.integrity %s: not supported", segID, *sg.Integrity)
	case sg.Flags != nil:
		return "", Layout{}, rejectf("segments.%s.flags %s: not allowed", segID, *sg.Flags)
	case !offOK || off < ksEnd || off > MaxMetadata || off%ss != 0:
		return "", Layout{}, rejectf("segments.%s.offset %q: must be a multiple of %d from %d to %d",
			segID, sg.Offset, ss, ksEnd, MaxMetadata)
	case sg.Size != "dynamic" && (!sizeOK || size == 0 || size%ss != 0):
		return "", Layout{}, rejectf("segments.%s.size %q: want \"dynamic\" or a positive multiple of %d",
			segID, sg.Size, ss)
	}
	return segID, Layout{Offset: off, Size: size, SectorSize: ss, KeySize: VolumeKeySize, Cipher: Cipher}, nil
}

// checkDigests requires exactly one pbkdf2/sha256 digest of exactly 32 bytes
// binding the one segment and exactly the set of keyslots: luks.go compares
// only as many bytes as the stored digest has, so an empty digest would
// accept any key.
func (m *metadataJSON) checkDigests(segID string) error {
	if len(m.Digests) != 1 {
		return rejectf("%d digests, want 1", len(m.Digests))
	}
	for k, d := range m.Digests {
		raw, err := base64.StdEncoding.Strict().DecodeString(d.Digest)
		salt, errSalt := base64.StdEncoding.Strict().DecodeString(d.Salt)
		switch {
		case !id(k, maxKeyslots):
			return rejectf("digest id %q", k)
		case d.Type != "pbkdf2" || d.Hash != "sha256":
			return rejectf("digests.%s type/hash %q/%q, want pbkdf2/sha256", k, d.Type, d.Hash)
		case err != nil || len(raw) != sha256.Size:
			return rejectf("digests.%s.digest %q: want %d bytes of base64", k, d.Digest, sha256.Size)
		case errSalt != nil || len(salt) != saltSize:
			return rejectf("digests.%s.salt %q: want %d bytes of base64", k, d.Salt, saltSize)
		case d.Iterations < minPBKDF2Iter || d.Iterations > maxDigestIter:
			return rejectf("digests.%s.iterations %d, want %d..%d", k, d.Iterations, minPBKDF2Iter, maxDigestIter)
		case len(d.Segments) != 1 || d.Segments[0] != segID:
			return rejectf("digests.%s.segments %q, want [%q]", k, d.Segments, segID)
		}
		if !sameSet(d.Keyslots, m.Keyslots) {
			return rejectf("digests.%s.keyslots %q must name every keyslot exactly once", k, d.Keyslots)
		}
	}
	return nil
}

func sameSet(names []string, slots map[string]keyslotJSON) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if _, ok := slots[n]; !ok || seen[n] {
			return false
		}
		seen[n] = true
	}
	return len(seen) == len(slots)
}
