// Package disk owns the LUKS2 header guard: it reads a LUKS2 metadata region
// once, checks it against the exact allow-list of SECURITY.md (H1) and hands
// only that validated copy to anatol/luks.go, which trusts the header it is
// given (it maps whatever cipher and offsets the header names and panics on
// several malformed values). The guard is hand-written rather than built on
// luks.go or cryptsetup for that reason: the host writes these bytes, so
// nothing may read them before this package has refused everything outside
// the allow-list.
package disk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrHeaderRejected is wrapped by every refusal of the guard; the wrapped
// detail names the field and the value.
var ErrHeaderRejected = errors.New("LUKS2 header rejected")

// BinaryHeaderSize is the size of the LUKS2 binary header that starts each
// header copy (LUKS2 On-Disk Format Specification, section 2.1).
const BinaryHeaderSize = 4096

// MaxMetadata bounds the metadata region (both header copies and the
// keyslots area) ever read into memory; cryptsetup's default is 16 MiB.
const MaxMetadata = 64 << 20

// Offsets in the binary header (big-endian).
const (
	offVersion  = 6   // u16
	offHdrSize  = 8   // u64
	offSeqID    = 16  // u64
	offCsumAlg  = 72  // char[32]
	offUUID     = 168 // char[40]
	offHdrOff   = 256 // u64
	offChecksum = 448 // u8[64]
)

const (
	magicPrimary   = "LUKS\xba\xbe"
	magicSecondary = "SKUL\xba\xbe"
)

var uuidText = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Binary is what the binary header says before anything else is checked.
type Binary struct {
	HdrSize uint64 // size of one header copy (binary header + JSON area)
	UUID    string
}

func rejectf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrHeaderRejected}, a...)...)
}

// ParseBinary reads the primary binary header: magic, version 2, one of the
// nine legal hdr_size values, hdr_offset 0. b must hold at least 4096 bytes.
// It does not verify the checksum (Check does); disk scans use it to find a
// UUID.
func ParseBinary(b []byte) (Binary, error) {
	if len(b) < BinaryHeaderSize || string(b[:len(magicPrimary)]) != magicPrimary {
		return Binary{}, rejectf("no LUKS magic")
	}
	if v := binary.BigEndian.Uint16(b[offVersion:]); v != 2 {
		return Binary{}, rejectf("version %d, want 2", v)
	}
	h := Binary{HdrSize: binary.BigEndian.Uint64(b[offHdrSize:])}
	if !legalHdrSize(h.HdrSize) {
		return Binary{}, rejectf("hdr_size %d is not one of the legal sizes", h.HdrSize)
	}
	if o := binary.BigEndian.Uint64(b[offHdrOff:]); o != 0 {
		return Binary{}, rejectf("hdr_offset %d in the primary header, want 0", o)
	}
	uuid, ok := cString(b[offUUID : offUUID+40])
	if !ok || !uuidText.MatchString(uuid) {
		return Binary{}, rejectf("uuid %q is not a UUID", uuid)
	}
	h.UUID = uuid
	return h, nil
}

// legalHdrSize: 16, 32, 64, 128, 256, 512 KiB, 1, 2 or 4 MiB.
func legalHdrSize(n uint64) bool {
	return n >= 16<<10 && n <= 4<<20 && n&(n-1) == 0
}

// cString returns the NUL-terminated string in b; ok is false without a NUL.
func cString(b []byte) (string, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), false
	}
	return string(b[:i]), true
}

// checkChecksum verifies the sha256 checksum of one header copy (the
// checksum field counted as zeros).
func checkChecksum(copyName string, area []byte) error {
	if alg, ok := cString(area[offCsumAlg : offCsumAlg+32]); !ok || alg != "sha256" {
		return rejectf("%s checksum_alg %q, want sha256", copyName, alg)
	}
	if !bytes.Equal(area[offChecksum+sha256.Size:offChecksum+64], make([]byte, 64-sha256.Size)) {
		return rejectf("%s checksum has bytes after the sha256 sum", copyName)
	}
	h := sha256.New()
	h.Write(area[:offChecksum])
	h.Write(make([]byte, 64))
	h.Write(area[offChecksum+64:])
	if !bytes.Equal(h.Sum(nil), area[offChecksum:offChecksum+sha256.Size]) {
		return rejectf("%s checksum mismatch", copyName)
	}
	return nil
}

// checkSecondary compares the secondary header copy at hdrSize with the
// validated primary: magic, version, hdr_size, seqid, UUID, its own
// checksum and a byte-identical JSON area. Nothing reads the secondary copy,
// but a disk whose copies disagree is not one cvmctl seal made.
func checkSecondary(region []byte, hdrSize uint64) error {
	p, s := region[:hdrSize], region[hdrSize:2*hdrSize]
	if string(s[:len(magicSecondary)]) != magicSecondary {
		return rejectf("secondary header magic %q", s[:len(magicSecondary)])
	}
	if binary.BigEndian.Uint64(s[offHdrOff:]) != hdrSize {
		return rejectf("secondary hdr_offset %d, want %d", binary.BigEndian.Uint64(s[offHdrOff:]), hdrSize)
	}
	for _, f := range []struct {
		name     string
		from, to int
	}{{"version", offVersion, offVersion + 2}, {"hdr_size", offHdrSize, offSeqID}, {"seqid", offSeqID, offSeqID + 8},
		{"uuid", offUUID, offUUID + 40}} {
		if !bytes.Equal(p[f.from:f.to], s[f.from:f.to]) {
			return rejectf("secondary header %s differs from the primary", f.name)
		}
	}
	if err := checkChecksum("secondary", s); err != nil {
		return err
	}
	if !bytes.Equal(p[BinaryHeaderSize:], s[BinaryHeaderSize:]) {
		return rejectf("secondary JSON area differs from the primary")
	}
	return nil
}

// sameUUID compares UUIDs as cryptsetup does (case-insensitively).
func sameUUID(a, b string) bool { return strings.EqualFold(a, b) }
