//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// luksDump is the part of cryptsetup's JSON metadata (LUKS2 on-disk
// format, section 3) the allow-list of SECURITY.md constrains.
type luksDump struct {
	Keyslots map[string]struct {
		Type    string `json:"type"`
		KeySize int    `json:"key_size"`
		Area    struct {
			Encryption string `json:"encryption"`
			KeySize    int    `json:"key_size"`
		} `json:"area"`
		KDF struct {
			Type       string `json:"type"`
			Hash       string `json:"hash"`
			Iterations int    `json:"iterations"`
		} `json:"kdf"`
	} `json:"keyslots"`
	Segments map[string]struct {
		Type       string `json:"type"`
		Encryption string `json:"encryption"`
		SectorSize int    `json:"sector_size"`
		IVTweak    string `json:"iv_tweak"`
		Size       string `json:"size"`
	} `json:"segments"`
	Digests map[string]struct {
		Type       string `json:"type"`
		Hash       string `json:"hash"`
		Iterations int    `json:"iterations"`
	} `json:"digests"`
}

func TestSealDisk(t *testing.T) {
	tools := requireTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	tree, plain, disk := filepath.Join(dir, "tree"), filepath.Join(dir, "fs.img"), filepath.Join(dir, "disk.img")
	marker := []byte("plaintext-marker-7f3a9c")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "marker"), bytes.Repeat(marker, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MakeExt4(ctx, tools, tree, plain, 4); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0x5a}, KeySize)
	const uuid = "0b1c5d2e-3f40-4a51-8b62-7c83d94ea5f6"
	if err := SealDisk(ctx, tools, Seal{FSImage: plain, Output: disk, Key: key, UUID: uuid}); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	// LUKS2 binary header: magic at 0, version 2 at 6, UUID at 168.
	if !bytes.HasPrefix(img, []byte("LUKS\xba\xbe\x00\x02")) || string(img[168:168+len(uuid)]) != uuid {
		t.Errorf("header starts %q, UUID field %q; want LUKS2 with UUID %s", img[:8], img[168:204], uuid)
	}
	if plainImg, _ := os.ReadFile(plain); !bytes.Contains(plainImg, marker) || bytes.Contains(img, marker) {
		t.Error("the marker must be in the plain image and not in the sealed one")
	}
	checkLUKSMetadata(t, tools, disk)
	if err := CheckKey(ctx, tools, disk, key); err != nil {
		t.Errorf("the sealing key does not open the disk: %v", err)
	}
	if err := CheckKey(ctx, tools, disk, bytes.Repeat([]byte{0xa5}, KeySize)); err == nil {
		t.Error("another key opens the disk")
	}
	if err := SealDisk(ctx, tools, Seal{FSImage: plain, Output: disk, Key: key[:16], UUID: uuid}); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

// checkLUKSMetadata compares the header with the allow-list of SECURITY.md.
func checkLUKSMetadata(t *testing.T, tools Tools, disk string) {
	t.Helper()
	js, err := LUKSMetadata(context.Background(), tools, disk)
	if err != nil {
		t.Fatal(err)
	}
	var d luksDump
	if err := json.Unmarshal(js, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Keyslots) != 1 || len(d.Segments) != 1 || len(d.Digests) != 1 {
		t.Fatalf("%d keyslots, %d segments, %d digests; want one each", len(d.Keyslots), len(d.Segments), len(d.Digests))
	}
	for _, k := range d.Keyslots {
		if k.Type != "luks2" || k.KeySize != 64 || k.Area.Encryption != "aes-xts-plain64" || k.Area.KeySize != 64 ||
			k.KDF.Type != "pbkdf2" || k.KDF.Hash != "sha256" || k.KDF.Iterations != 1000 {
			t.Errorf("keyslot %+v: want luks2, 64-byte aes-xts-plain64, pbkdf2 sha256 1000 iterations", k)
		}
	}
	for _, s := range d.Segments {
		if s.Type != "crypt" || s.Encryption != "aes-xts-plain64" || s.SectorSize != 4096 || s.IVTweak != "0" ||
			s.Size != "dynamic" {
			t.Errorf("segment %+v: want crypt aes-xts-plain64, 4096-byte sectors, iv_tweak 0, dynamic", s)
		}
	}
	for _, g := range d.Digests {
		if g.Type != "pbkdf2" || g.Hash != "sha256" || g.Iterations < 1000 || g.Iterations > 1_000_000 {
			t.Errorf("digest %+v: want pbkdf2 sha256 with 1000..1000000 iterations", g)
		}
	}
}
