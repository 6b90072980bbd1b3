package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSealFSImage seals a ready ext4 image with a given UUID: the decrypted
// volume begins with exactly the image's bytes (so a block number in the
// image is a block number in the volume), and the header records the UUID.
func TestSealFSImage(t *testing.T) {
	needTools(t)
	out := t.TempDir()
	// A file system image made by a first seal's mkfs step, from the test tree.
	first, _ := sealT(t, Options{Input: makeTree(t), Output: filepath.Join(out, "a.img"), Payload: filepath.Join(out, "a.json")})
	fsBytes := int64(first.Info.Verity.DataBlocks * 4096)
	vol := decryptVolume(t, first.Image, readPayload(t, filepath.Join(out, "a.json")).Key.Bytes(), first.Info.LUKS.DataOffset)
	img := filepath.Join(out, "fs.img")
	must(t, os.WriteFile(img, readPrefix(t, vol, fsBytes), 0o600))

	const uuid = "0de0c0de-0000-4000-8000-00000000de01"
	o := Options{FSImage: img, UUID: uuid, Output: filepath.Join(out, "b.img"), Payload: filepath.Join(out, "b.json")}
	r, _ := sealT(t, o)
	p := readPayload(t, o.Payload)
	meta := guardAndKey(t, o.Output, p)
	if meta.UUID != uuid || r.Info.Input.Kind != "fs-image" {
		t.Errorf("UUID %s, input kind %q; want %s, fs-image", meta.UUID, r.Info.Input.Kind, uuid)
	}
	got := readPrefix(t, decryptVolume(t, o.Output, p.Key.Bytes(), meta.Offset), fsBytes)
	want, _ := os.ReadFile(img)
	if !bytes.Equal(got, want) {
		t.Error("the decrypted volume does not begin with the given file system image")
	}

	for name, o := range map[string]Options{
		"not a file system": {FSImage: o.Payload, Output: filepath.Join(out, "c.img"), Payload: filepath.Join(out, "c.json")},
		"bad uuid":          {FSImage: img, UUID: "nope", Output: filepath.Join(out, "c.img"), Payload: filepath.Join(out, "c.json")},
		"two inputs":        {FSImage: img, Input: makeTree(t), Output: filepath.Join(out, "c.img"), Payload: filepath.Join(out, "c.json")},
	} {
		if _, err := Seal(t.Context(), o); err == nil || !(errors.Is(err, ErrInput) || errors.Is(err, ErrOptions)) {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(out, "c.img")); err == nil {
			t.Errorf("%s: left an image behind", name)
		}
	}
}

func readPrefix(t *testing.T, path string, n int64) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < n {
		t.Fatalf("%s: %d bytes, %v", path, len(b), err)
	}
	return b[:n]
}

// TestSealRelativePaths seals with paths relative to the working directory
// (tools run elsewhere, in the work directory).
func TestSealRelativePaths(t *testing.T) {
	needTools(t)
	tree := makeTree(t)
	t.Chdir(t.TempDir())
	r, _ := sealT(t, Options{Input: tree, Output: "root.img", Payload: "p.json"})
	if _, err := os.Stat("root.img"); err != nil || !filepath.IsAbs(r.Image) {
		t.Fatalf("image %q: %v", r.Image, err)
	}
	guardAndKey(t, "root.img", readPayload(t, "p.json"))
}
