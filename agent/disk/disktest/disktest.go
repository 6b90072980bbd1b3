// Package disktest builds LUKS2 metadata for tests of the header guard:
// synthetic regions shaped like cryptsetup's, host-style edits of real
// cryptsetup images (JSON changed, both checksums recomputed), and
// cryptsetup-made images. It is imported by tests only.
package disktest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Geometry of Fixture regions: 16 KiB header copies, one keyslot area of
// 4000 × 64 bytes rounded to 4 KiB, data segment at 320 KiB.
const (
	FixtureHdrSize = 16384
	FixtureOffset  = 327680
)

// UUID is the LUKS UUID the tests use.
const UUID = "0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b"

var salt32 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// FixtureJSON is LUKS2 metadata shaped like cryptsetup's output (one pbkdf2
// keyslot, no token, one digest, one dynamic crypt segment).
func FixtureJSON() map[string]any {
	return map[string]any{
		"keyslots": map[string]any{"0": map[string]any{
			"type": "luks2", "key_size": 64,
			"af":   map[string]any{"type": "luks1", "stripes": 4000, "hash": "sha256"},
			"area": map[string]any{"type": "raw", "offset": "32768", "size": "258048", "encryption": "aes-xts-plain64", "key_size": 64},
			"kdf":  map[string]any{"type": "pbkdf2", "hash": "sha256", "iterations": 1000, "salt": salt32},
		}},
		"tokens": map[string]any{},
		"segments": map[string]any{"0": map[string]any{
			"type": "crypt", "offset": "327680", "size": "dynamic", "iv_tweak": "0",
			"encryption": "aes-xts-plain64", "sector_size": 512,
		}},
		"digests": map[string]any{"0": map[string]any{
			"type": "pbkdf2", "keyslots": []any{"0"}, "segments": []any{"0"}, "hash": "sha256",
			"iterations": 1000, "salt": salt32, "digest": base64.StdEncoding.EncodeToString(make([]byte, 32)),
		}},
		"config": map[string]any{"json_size": "12288", "keyslots_size": "294912"},
	}
}

// Fixture builds a metadata region [0, FixtureOffset) per the LUKS2 on-disk
// format: primary and secondary binary headers (magic, version 2, hdr_size,
// seqid, "sha256", uuid, hdr_offset), the JSON area NUL-padded to hdr_size,
// each copy's SHA-256 checksum over the copy with the checksum field zeroed.
// mutate, if not nil, edits the JSON first.
func Fixture(uuid string, mutate func(j map[string]any)) []byte {
	j := FixtureJSON()
	if mutate != nil {
		mutate(j)
	}
	region := make([]byte, FixtureOffset)
	for i, magic := range []string{"LUKS\xba\xbe", "SKUL\xba\xbe"} {
		h := region[i*FixtureHdrSize:]
		copy(h, magic)
		binary.BigEndian.PutUint16(h[6:], 2)
		binary.BigEndian.PutUint64(h[8:], FixtureHdrSize)
		binary.BigEndian.PutUint64(h[16:], 1)
		copy(h[72:], "sha256")
		copy(h[168:], uuid)
		binary.BigEndian.PutUint64(h[256:], uint64(i*FixtureHdrSize))
	}
	if err := setJSON(region, j); err != nil {
		panic(err)
	}
	return region
}

// Rewrite returns a copy of region (a LUKS2 metadata region, as cryptsetup
// wrote it) whose JSON the host edited with mutate, written to both header
// copies with both checksums recomputed.
func Rewrite(region []byte, mutate func(j map[string]any)) ([]byte, error) {
	hs := binary.BigEndian.Uint64(region[8:])
	if hs < 4096 || uint64(len(region)) < 2*hs {
		return nil, fmt.Errorf("region of %d bytes, hdr_size %d", len(region), hs)
	}
	area := region[4096:hs]
	dec := json.NewDecoder(bytes.NewReader(area[:bytes.IndexByte(area, 0)]))
	dec.UseNumber()
	var j map[string]any
	if err := dec.Decode(&j); err != nil {
		return nil, err
	}
	mutate(j)
	out := bytes.Clone(region)
	return out, setJSON(out, j)
}

// Reseal recomputes the checksums of both header copies after an edit.
func Reseal(region []byte) {
	hs := binary.BigEndian.Uint64(region[8:])
	for _, off := range []uint64{0, hs} {
		if off+hs > uint64(len(region)) || hs < 512 {
			return
		}
		h := region[off : off+hs]
		clear(h[448 : 448+64])
		sum := sha256.Sum256(h)
		copy(h[448:], sum[:])
	}
}

// setJSON writes j, NUL-padded, into the JSON area of both copies and
// reseals them.
func setJSON(region []byte, j map[string]any) error {
	text, err := json.Marshal(j)
	if err != nil {
		return err
	}
	hs := binary.BigEndian.Uint64(region[8:])
	if uint64(len(text)) >= hs-4096 {
		return fmt.Errorf("JSON of %d bytes does not fit", len(text))
	}
	for _, off := range []uint64{0, hs} {
		a := region[off+4096 : off+hs]
		clear(a)
		copy(a, text)
	}
	Reseal(region)
	return nil
}

// Obj returns j[path[0]][path[1]]... as an object, for mutations.
func Obj(j map[string]any, path ...string) map[string]any {
	for _, p := range path {
		j = j[p].(map[string]any)
	}
	return j
}

// WithJSONText returns a copy of region whose JSON area, in both copies,
// holds text (NUL-padded; no NUL added if text fills the area), resealed.
func WithJSONText(region, text []byte) []byte {
	out := bytes.Clone(region)
	hs := binary.BigEndian.Uint64(out[8:])
	for _, off := range []uint64{0, hs} {
		if off+hs <= uint64(len(out)) && hs > 4096 {
			a := out[off+4096 : off+hs]
			clear(a)
			copy(a, text)
		}
	}
	Reseal(out)
	return out
}

// JSONText returns the JSON text of the primary header of region.
func JSONText(region []byte) []byte {
	hs := binary.BigEndian.Uint64(region[8:])
	a := region[4096:hs]
	if i := bytes.IndexByte(a, 0); i >= 0 {
		a = a[:i]
	}
	return bytes.Clone(a)
}
