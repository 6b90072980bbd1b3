package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
)

// Geometry of the synthetic LUKS2 disks used by the tests.
const (
	fixHdrSize = 16384
	fixSegOff  = 65536
)

// luksFixtureJSON is LUKS2 metadata shaped like cryptsetup's (one pbkdf2
// keyslot, one digest, one dynamic crypt segment), shrunk to a 64 KiB
// metadata region.
func luksFixtureJSON() map[string]any {
	return map[string]any{
		"keyslots": map[string]any{"0": map[string]any{
			"type": "luks2", "key_size": 64,
			"af":   map[string]any{"type": "luks1", "stripes": 4000, "hash": "sha256"},
			"area": map[string]any{"type": "raw", "offset": "32768", "size": "4096", "encryption": "aes-xts-plain64", "key_size": 64},
			"kdf":  map[string]any{"type": "pbkdf2", "hash": "sha256", "iterations": 1000, "salt": "AAAA"},
		}},
		"tokens": map[string]any{},
		"segments": map[string]any{"0": map[string]any{
			"type": "crypt", "offset": "65536", "size": "dynamic", "iv_tweak": "0",
			"encryption": "aes-xts-plain64", "sector_size": 512,
		}},
		"digests": map[string]any{"0": map[string]any{
			"type": "pbkdf2", "keyslots": []string{"0"}, "segments": []string{"0"}, "hash": "sha256",
			"iterations": 1000, "salt": "AAAA", "digest": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		}},
		"config": map[string]any{"json_size": "12288", "keyslots_size": "32768"},
	}
}

// luksFixture builds a metadata region per the LUKS2 on-disk format: the
// binary header (magic, version 2, hdr_size, "sha256", UUID), the JSON area
// NUL-padded to hdr_size, the SHA-256 checksum over both with the checksum
// field zeroed, then zeros up to the segment offset.
func luksFixture(uuid string, mutate func(j map[string]any)) []byte {
	j := luksFixtureJSON()
	if mutate != nil {
		mutate(j)
	}
	text, err := json.Marshal(j)
	if err != nil {
		panic(err)
	}
	region := make([]byte, fixSegOff)
	copy(region, "LUKS\xba\xbe")
	binary.BigEndian.PutUint16(region[6:], 2)
	binary.BigEndian.PutUint64(region[8:], fixHdrSize)
	binary.BigEndian.PutUint64(region[16:], 1)
	copy(region[72:], "sha256")
	copy(region[168:], uuid)
	copy(region[4096:fixHdrSize], text)
	sum := sha256.Sum256(region[:fixHdrSize])
	copy(region[448:], sum[:])
	return region
}

// reChecksum recomputes the primary header checksum after a mutation.
func reChecksum(region []byte) {
	hs := binary.BigEndian.Uint64(region[8:])
	clear(region[448 : 448+64])
	sum := sha256.Sum256(region[:hs])
	copy(region[448:], sum[:])
}
