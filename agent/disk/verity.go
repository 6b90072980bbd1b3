package disk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// The dm-verity parameters a sealed disk may use: the allow-list the guest
// checks before it builds a verity table from a payload.
const (
	VerityAlgorithm = "sha256"
	VerityBlockSize = 4096
	maxVeritySalt   = 256 // bytes; dm-verity's limit
)

var (
	rootHashText = regexp.MustCompile(`^[0-9a-f]{64}$`)
	saltText     = regexp.MustCompile(`^([0-9a-f]{2})*$`)
)

// Verity describes the dm-verity hash tree that `cvmctl seal` put inside the
// decrypted volume right after the file system: the volume holds
// DataBlocks blocks of file system, then, at HashOffset, the hash tree
// (veritysetup format --no-superblock). Its JSON form, inside a version 2
// Payload, is
//
//	{"root_hash":"<64 hex>","salt":"<hex>","algorithm":"sha256","data_block_size":4096,
//	 "hash_block_size":4096,"data_blocks":N,"hash_offset":N*4096}
//
// with exactly these members.
type Verity struct {
	RootHash      string `json:"root_hash"`       // lower-case hex SHA-256 root of the tree
	Salt          string `json:"salt"`            // lower-case hex, at most 256 bytes
	Algorithm     string `json:"algorithm"`       // "sha256"
	DataBlockSize uint32 `json:"data_block_size"` // 4096
	HashBlockSize uint32 `json:"hash_block_size"` // 4096
	DataBlocks    uint64 `json:"data_blocks"`     // file system size in data blocks, at least 1
	HashOffset    uint64 `json:"hash_offset"`     // byte offset of the tree: DataBlocks * DataBlockSize
}

// Check validates v against the allow-list, naming the first bad field.
func (v *Verity) Check() error {
	bad := func(field string, val any) error {
		return fmt.Errorf("%w: verity.%s %v", ErrPayloadInvalid, field, val)
	}
	switch {
	case !rootHashText.MatchString(v.RootHash):
		return bad("root_hash", fmt.Sprintf("%q: want 64 lower-case hex digits", v.RootHash))
	case !saltText.MatchString(v.Salt) || len(v.Salt) > 2*maxVeritySalt:
		return bad("salt", fmt.Sprintf("%q: want lower-case hex of at most %d bytes", v.Salt, maxVeritySalt))
	case v.Algorithm != VerityAlgorithm:
		return bad("algorithm", fmt.Sprintf("%q: want %q", v.Algorithm, VerityAlgorithm))
	case v.DataBlockSize != VerityBlockSize:
		return bad("data_block_size", fmt.Sprintf("%d: want %d", v.DataBlockSize, VerityBlockSize))
	case v.HashBlockSize != VerityBlockSize:
		return bad("hash_block_size", fmt.Sprintf("%d: want %d", v.HashBlockSize, VerityBlockSize))
	case v.DataBlocks == 0 || v.DataBlocks > 1<<40:
		return bad("data_blocks", v.DataBlocks)
	case v.HashOffset != v.DataBlocks*uint64(v.DataBlockSize):
		return bad("hash_offset", fmt.Sprintf("%d: want data_blocks * data_block_size = %d", v.HashOffset,
			v.DataBlocks*uint64(v.DataBlockSize)))
	}
	return nil
}

// verityJSON decodes the verity member strictly: an object with exactly
// Verity's members, once.
type verityJSON struct {
	v   *Verity
	set bool
}

func (j *verityJSON) UnmarshalJSON(b []byte) error {
	if j.set {
		return errors.New("duplicate member verity")
	}
	j.set = true
	if err := exactMembers(b, verityMembers); err != nil {
		return fmt.Errorf("verity: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v Verity
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("verity: %w", err)
	}
	j.v = &v
	return nil
}

var verityMembers = []string{"root_hash", "salt", "algorithm", "data_block_size", "hash_block_size", "data_blocks",
	"hash_offset"}

// exactMembers requires b to be an object whose member names are exactly
// names, each once and exactly spelled (encoding/json alone matches names
// case-insensitively and keeps the last of duplicates).
func exactMembers(b []byte, names []string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not an object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		if !slices.Contains(names, name) || seen[name] {
			return fmt.Errorf("unexpected or repeated member %q", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if len(seen) != len(names) {
		return fmt.Errorf("want exactly the members %v", names)
	}
	return nil
}
