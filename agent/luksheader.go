package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// LUKS2 binary header (cryptsetup "LUKS2 On-Disk Format Specification",
// section 2.1 "Binary header"), big-endian, 4096 bytes at offset 0 and again
// at offset hdr_size; the JSON area follows each copy up to hdr_size.
const (
	luksBinarySize  = 4096
	luksOffVersion  = 6   // u16
	luksOffHdrSize  = 8   // u64
	luksOffCsumAlg  = 72  // char[32]
	luksOffUUID     = 168 // char[40]
	luksOffChecksum = 448 // u8[64]
	// maxMetadata bounds the metadata region (headers and keyslot areas)
	// copied into memory; cryptsetup's default is 16 MiB.
	maxMetadata = 64 << 20
)

const luksMagic = "LUKS\xba\xbe"

// luksBinary is what the disk scan needs from the binary header.
type luksBinary struct {
	hdrSize uint64
	uuid    string
}

// parseLUKSBinary reads a LUKS2 binary header; b must hold at least 4096 bytes.
func parseLUKSBinary(b []byte) (luksBinary, error) {
	if len(b) < luksBinarySize || string(b[:len(luksMagic)]) != luksMagic {
		return luksBinary{}, fmt.Errorf("%w: no LUKS magic", ErrHeaderRejected)
	}
	if v := binary.BigEndian.Uint16(b[luksOffVersion:]); v != 2 {
		return luksBinary{}, fmt.Errorf("%w: LUKS version %d, want 2", ErrHeaderRejected, v)
	}
	h := luksBinary{hdrSize: binary.BigEndian.Uint64(b[luksOffHdrSize:]), uuid: cString(b[luksOffUUID : luksOffUUID+40])}
	if !legalHdrSize(h.hdrSize) {
		return luksBinary{}, fmt.Errorf("%w: hdr_size %d is not one of the legal sizes", ErrHeaderRejected, h.hdrSize)
	}
	return h, nil
}

// legalHdrSize: a power of two from 16 KiB to 4 MiB.
func legalHdrSize(n uint64) bool {
	return n >= 16<<10 && n <= 4<<20 && n&(n-1) == 0
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// luksLayout is what the checked header says about the data segment.
type luksLayout struct {
	hdrSize    uint64
	offset     uint64 // data segment offset = metadata region size
	size       uint64 // data segment size; 0 means dynamic
	sectorSize uint64
}

// luksJSON is the subset of the LUKS2 JSON metadata the minimal check reads.
type luksJSON struct {
	Keyslots map[string]luksKeyslot `json:"keyslots"`
	Segments map[string]luksSegment `json:"segments"`
	Digests  map[string]luksDigest  `json:"digests"`
	Config   struct {
		Requirements json.RawMessage `json:"requirements"`
	} `json:"config"`
}

type luksKeyslot struct {
	Type    string `json:"type"`
	KeySize int    `json:"key_size"`
	Area    struct {
		Type       string `json:"type"`
		Offset     string `json:"offset"`
		Size       string `json:"size"`
		Encryption string `json:"encryption"`
		KeySize    int    `json:"key_size"`
	} `json:"area"`
	AF struct {
		Type    string `json:"type"`
		Stripes int    `json:"stripes"`
		Hash    string `json:"hash"`
	} `json:"af"`
	KDF struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations uint64 `json:"iterations"`
		Time       uint64 `json:"time"`
		Memory     uint64 `json:"memory"` // KiB
		CPUs       uint64 `json:"cpus"`
	} `json:"kdf"`
}

type luksSegment struct {
	Type       string          `json:"type"`
	Offset     string          `json:"offset"`
	Size       string          `json:"size"`
	IVTweak    string          `json:"iv_tweak"`
	Encryption string          `json:"encryption"`
	SectorSize uint64          `json:"sector_size"`
	Integrity  json.RawMessage `json:"integrity"`
}

type luksDigest struct {
	Type       string   `json:"type"`
	Hash       string   `json:"hash"`
	Digest     string   `json:"digest"`
	Iterations uint64   `json:"iterations"`
	Keyslots   []string `json:"keyslots"`
	Segments   []string `json:"segments"`
}

// luksVolumeKeySize is the only volume key size accepted: AES-256-XTS. luks.go
// sizes the volume key from the keyslot's key_size, so a key_size of 0 would
// make an empty key whose digest the host can compute without any secret.
const luksVolumeKeySize = 64

// KDF cost caps: a header the host wrote must not be able to make key
// derivation exhaust the guest's memory or the boot deadline.
const (
	maxArgon2MemoryKiB = 1 << 20
	maxArgon2Time      = 64
	maxArgon2CPUs      = 4
	minPBKDF2Iter      = 1000 // cryptsetup's own minimum
	maxPBKDF2Iter      = 10_000_000
)

// checkLUKS2 is the minimal header check done before luks.go sees a byte:
// binary header, SHA-256 checksum, NUL-terminated JSON, exactly one crypt
// segment and every keyslot area with cipher aes-xts-plain64, sane offsets,
// and the expected UUID. hdr must hold the primary header (hdr_size bytes)
// or more. The complete allow-list of SECURITY.md is a separate guard.
func checkLUKS2(hdr []byte, wantUUID string) (luksLayout, error) {
	bin, err := parseLUKSBinary(hdr)
	if err != nil {
		return luksLayout{}, err
	}
	if uint64(len(hdr)) < bin.hdrSize {
		return luksLayout{}, fmt.Errorf("%w: header truncated", ErrHeaderRejected)
	}
	if !strings.EqualFold(bin.uuid, wantUUID) {
		return luksLayout{}, fmt.Errorf("%w: UUID %q, want %s", ErrHeaderRejected, bin.uuid, wantUUID)
	}
	area := hdr[:bin.hdrSize]
	if err := checkChecksum(area); err != nil {
		return luksLayout{}, err
	}
	meta, err := decodeLUKSJSON(area[luksBinarySize:])
	if err != nil {
		return luksLayout{}, err
	}
	return meta.check(bin.hdrSize)
}

func checkChecksum(area []byte) error {
	if alg := cString(area[luksOffCsumAlg : luksOffCsumAlg+32]); alg != "sha256" {
		return fmt.Errorf("%w: checksum algorithm %q, want sha256", ErrHeaderRejected, alg)
	}
	c := make([]byte, len(area))
	copy(c, area)
	clear(c[luksOffChecksum : luksOffChecksum+64])
	sum := sha256.Sum256(c)
	if !bytes.Equal(sum[:], area[luksOffChecksum:luksOffChecksum+32]) {
		return fmt.Errorf("%w: header checksum mismatch", ErrHeaderRejected)
	}
	return nil
}

func decodeLUKSJSON(j []byte) (*luksJSON, error) {
	n := bytes.IndexByte(j, 0)
	if n < 0 {
		return nil, fmt.Errorf("%w: JSON area not NUL-terminated", ErrHeaderRejected)
	}
	var m luksJSON
	if err := json.Unmarshal(j[:n], &m); err != nil {
		return nil, fmt.Errorf("%w: JSON area: %w", ErrHeaderRejected, err)
	}
	return &m, nil
}

func (m *luksJSON) check(hdrSize uint64) (luksLayout, error) {
	l, err := m.checkSegment(hdrSize)
	if err != nil {
		return luksLayout{}, err
	}
	if len(m.Config.Requirements) > 0 && string(m.Config.Requirements) != "null" {
		return luksLayout{}, fmt.Errorf("%w: config.requirements present", ErrHeaderRejected)
	}
	if err := m.checkKeyslots(hdrSize, l.offset); err != nil {
		return luksLayout{}, err
	}
	return l, m.checkDigests()
}

// checkDigests requires exactly one pbkdf2/sha256 digest of exactly 32 bytes,
// with an affordable iteration count, binding the segment and only existing
// keyslots: luks.go compares only as many bytes as the stored digest has, so
// an empty digest would accept any key.
func (m *luksJSON) checkDigests() error {
	if len(m.Digests) != 1 {
		return fmt.Errorf("%w: %d digests, want 1", ErrHeaderRejected, len(m.Digests))
	}
	for id, d := range m.Digests {
		raw, err := base64.StdEncoding.DecodeString(d.Digest)
		if d.Type != "pbkdf2" || d.Hash != "sha256" || err != nil || len(raw) != sha256.Size ||
			d.Iterations < minPBKDF2Iter || d.Iterations > maxPBKDF2Iter {
			return fmt.Errorf("%w: digest %s: want pbkdf2/sha256 with a %d-byte digest and %d..%d iterations",
				ErrHeaderRejected, id, sha256.Size, minPBKDF2Iter, maxPBKDF2Iter)
		}
		if !m.bindsAll(d) {
			return fmt.Errorf("%w: digest %s must reference the segment and existing keyslots", ErrHeaderRejected, id)
		}
	}
	return nil
}

// bindsAll reports whether d references exactly the one segment and at least
// one keyslot, all of which exist.
func (m *luksJSON) bindsAll(d luksDigest) bool {
	if len(d.Segments) != 1 || len(d.Keyslots) == 0 {
		return false
	}
	if _, ok := m.Segments[d.Segments[0]]; !ok {
		return false
	}
	for _, k := range d.Keyslots {
		if _, ok := m.Keyslots[k]; !ok {
			return false
		}
	}
	return true
}

func (m *luksJSON) checkSegment(hdrSize uint64) (luksLayout, error) {
	if len(m.Segments) != 1 {
		return luksLayout{}, fmt.Errorf("%w: %d segments, want 1", ErrHeaderRejected, len(m.Segments))
	}
	var sg luksSegment
	for _, v := range m.Segments {
		sg = v
	}
	l := luksLayout{hdrSize: hdrSize, sectorSize: sg.SectorSize}
	off, errO := strconv.ParseUint(sg.Offset, 10, 64)
	var errS error
	if sg.Size != "dynamic" {
		l.size, errS = strconv.ParseUint(sg.Size, 10, 64)
	}
	l.offset = off
	switch {
	case sg.Type != "crypt" || sg.Encryption != "aes-xts-plain64":
		return l, fmt.Errorf("%w: segment %s/%q, want crypt/aes-xts-plain64", ErrHeaderRejected, sg.Type, sg.Encryption)
	case sg.SectorSize != 512 && sg.SectorSize != 4096:
		return l, fmt.Errorf("%w: sector_size %d", ErrHeaderRejected, sg.SectorSize)
	case sg.IVTweak != "0" || len(sg.Integrity) > 0 && string(sg.Integrity) != "null":
		return l, fmt.Errorf("%w: iv_tweak %q or integrity set", ErrHeaderRejected, sg.IVTweak)
	case errO != nil || errS != nil || off < 2*hdrSize || off > maxMetadata || off%sg.SectorSize != 0:
		return l, fmt.Errorf("%w: segment offset %q", ErrHeaderRejected, sg.Offset)
	case sg.Size != "dynamic" && (l.size == 0 || l.size%sg.SectorSize != 0):
		return l, fmt.Errorf("%w: segment size %q", ErrHeaderRejected, sg.Size)
	}
	return l, nil
}

func (m *luksJSON) checkKeyslots(hdrSize, segOffset uint64) error {
	if len(m.Keyslots) == 0 {
		return fmt.Errorf("%w: no keyslots", ErrHeaderRejected)
	}
	for id, k := range m.Keyslots {
		off, errO := strconv.ParseUint(k.Area.Offset, 10, 64)
		size, errS := strconv.ParseUint(k.Area.Size, 10, 64)
		switch {
		case k.Type != "luks2" || k.Area.Type != "raw" || k.Area.Encryption != "aes-xts-plain64":
			return fmt.Errorf("%w: keyslot %s: %s/%s/%q", ErrHeaderRejected, id, k.Type, k.Area.Type, k.Area.Encryption)
		case k.KeySize != luksVolumeKeySize || k.Area.KeySize != luksVolumeKeySize:
			return fmt.Errorf("%w: keyslot %s: key_size %d, area key_size %d, want %d",
				ErrHeaderRejected, id, k.KeySize, k.Area.KeySize, luksVolumeKeySize)
		case k.AF.Type != "luks1" || k.AF.Stripes != 4000 || k.AF.Hash != "sha256":
			return fmt.Errorf("%w: keyslot %s: af %s/%d/%s, want luks1/4000/sha256",
				ErrHeaderRejected, id, k.AF.Type, k.AF.Stripes, k.AF.Hash)
		case !kdfAffordable(k):
			return fmt.Errorf("%w: keyslot %s: kdf %q or its cost is not allowed", ErrHeaderRejected, id, k.KDF.Type)
		case errO != nil || errS != nil || off < 2*hdrSize || size == 0 || off+size < off || off+size > segOffset:
			return fmt.Errorf("%w: keyslot %s: area %q+%q outside the keyslots region", ErrHeaderRejected, id, k.Area.Offset, k.Area.Size)
		}
	}
	return nil
}

func kdfAffordable(k luksKeyslot) bool {
	switch k.KDF.Type {
	case "pbkdf2":
		return k.KDF.Hash == "sha256" && k.KDF.Iterations >= minPBKDF2Iter && k.KDF.Iterations <= maxPBKDF2Iter
	case "argon2id", "argon2i":
		return k.KDF.Time >= 1 && k.KDF.Time <= maxArgon2Time && k.KDF.CPUs >= 1 && k.KDF.CPUs <= maxArgon2CPUs &&
			k.KDF.Memory >= 1 && k.KDF.Memory <= maxArgon2MemoryKiB
	}
	return false
}
