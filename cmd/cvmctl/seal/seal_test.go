package seal

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

const testDigest = "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198"

// TestSealSmallTree seals a small tree into a payload file and a store, then
// checks every layer with code that is not seal's: the guest's header guard
// and key check, the guest's payload decoder, cryptsetup's own view of the
// volume key, and veritysetup and debugfs on the decrypted volume.
func TestSealSmallTree(t *testing.T) {
	needTools(t)
	out := t.TempDir()
	o := Options{Input: makeTree(t), Output: filepath.Join(out, "root.img"), Payload: filepath.Join(out, "p.json"),
		Store: filepath.Join(out, "store"), Measurements: []string{strings.ToUpper(testDigest)}}
	r, _ := sealT(t, o)
	if got, want := dirNames(t, out), []string{"p.json", "root.img", "root.img.manifest.json", "store"}; !slices.Equal(got, want) {
		t.Fatalf("output directory holds %v, want %v", got, want)
	}
	p := readPayload(t, o.Payload)
	m := readManifest(t, r.Manifest)
	meta := guardAndKey(t, o.Output, p)

	// The payload, the manifest and the header the guest reads agree.
	if p.LUKSUUID != meta.UUID || m.LUKS.UUID != meta.UUID || p.HeaderSHA256 != meta.Identity() ||
		m.LUKS.HeaderSHA256 != meta.Identity() {
		t.Errorf("identity: payload %s/%s, manifest %s/%s, image %s/%s", p.LUKSUUID, p.HeaderSHA256,
			m.LUKS.UUID, m.LUKS.HeaderSHA256, meta.UUID, meta.Identity())
	}
	if p.Verity == nil || *p.Verity != m.Verity.Verity {
		t.Errorf("verity: payload %+v, manifest %+v", p.Verity, m.Verity.Verity)
	}
	checkSizes(t, o.Output, m, meta)
	if fi, err := os.Stat(o.Payload); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("payload file mode: %v %v", fi.Mode(), err)
	}
	if !slices.Equal(m.Broker.Measurements, []string{testDigest}) || m.Broker.Resource != DefaultResource {
		t.Errorf("manifest broker: %+v", m.Broker)
	}
	checkStore(t, o.Store, o.Payload)

	// The decrypted volume is the file system followed by its hash tree.
	vol := decryptVolume(t, o.Output, p.Key.Bytes(), meta.Offset)
	if err := verityVerify(t, vol, m.Verity); err != nil {
		t.Fatalf("veritysetup verify refuses the decrypted volume: %v", err)
	}
	got := cmd(t, toolPath(t, toolDebugfs), "-R", "cat /etc/hostname", vol)
	if string(got) != "sealed-host\n" {
		t.Errorf("/etc/hostname in the decrypted file system = %q", got)
	}
	flipByte(t, vol, 8192)
	if err := verityVerify(t, vol, m.Verity); err == nil {
		t.Error("veritysetup verify accepts a changed block")
	}
}

// guardAndKey runs the guest's header guard and key check on img.
func guardAndKey(t *testing.T, img string, p *disk.Payload) *disk.Metadata {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	meta, err := disk.ReadMetadata(f, uint64(fi.Size()), p.LUKSUUID)
	if err != nil {
		t.Fatalf("guest header guard refuses the image: %v", err)
	}
	if err := disk.CheckKey(meta, p.Key.Bytes(), t.TempDir()); err != nil {
		t.Fatalf("guest key check refuses the payload's key: %v", err)
	}
	if err := disk.CheckKey(meta, make([]byte, KeySize), t.TempDir()); err == nil {
		t.Fatal("guest key check accepts a zero key")
	}
	return meta
}

// checkSizes: image = header room + file system + hash tree, the tree right
// after the file system, everything in whole blocks.
func checkSizes(t *testing.T, img string, m Manifest, meta *disk.Metadata) {
	t.Helper()
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Sizes
	switch {
	case s.File != fi.Size() || s.RawImage != fi.Size():
		t.Errorf("sizes %+v, file %d", s, fi.Size())
	case uint64(s.RawImage) != meta.Offset+uint64(s.FS+s.HashTree) || meta.Offset != m.LUKS.DataOffset:
		t.Errorf("raw image %d != data offset %d + fs %d + tree %d", s.RawImage, meta.Offset, s.FS, s.HashTree)
	case s.FS%4096 != 0 || s.HashTree%4096 != 0 || s.HashTree == 0:
		t.Errorf("not whole blocks: %+v", s)
	case m.Verity.HashOffset != uint64(s.FS) || m.Verity.DataBlocks*4096 != uint64(s.FS):
		t.Errorf("verity geometry %+v for a %d-byte file system", m.Verity, s.FS)
	case meta.Layout.DataSize(uint64(fi.Size())) != uint64(s.Volume):
		t.Errorf("guest sees a volume of %d bytes, manifest says %d", meta.Layout.DataSize(uint64(fi.Size())), s.Volume)
	}
}

// checkStore: the store holds the payload file's bytes with the digest.
func checkStore(t *testing.T, dir, payload string) {
	t.Helper()
	want, err := os.ReadFile(payload)
	if err != nil {
		t.Fatal(err)
	}
	checkStoreSecret(t, dir, want, testDigest)
}

// checkStoreSecret: the store holds secret at DefaultResource with exactly
// the digests allowed.
func checkStoreSecret(t *testing.T, dir string, secret []byte, digests ...string) {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Secret(DefaultResource)
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("store secret differs from the payload file (%v)", err)
	}
	x, _ := s.Index()
	var ms []string
	for _, m := range x.Measurements(DefaultResource) {
		ms = append(ms, hex.EncodeToString(m))
	}
	slices.Sort(ms)
	slices.Sort(digests)
	if !slices.Equal(ms, digests) {
		t.Errorf("store allows %v, want %v", ms, digests)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestSealForce: --force replaces the outputs and rotates the store's
// secret, allowing the new digest in addition to the old one.
func TestSealForce(t *testing.T) {
	needTools(t)
	in, out := makeTree(t), t.TempDir()
	o := Options{Input: in, Output: filepath.Join(out, "root.img"), Payload: filepath.Join(out, "p.json"),
		Store: filepath.Join(out, "store"), Measurements: []string{testDigest}}
	first, _ := sealT(t, o)
	old, _ := os.ReadFile(o.Payload)
	o.Force, o.Measurements = true, []string{strings.Repeat("ab", 48)}
	second, _ := sealT(t, o)
	if first.Rotated || !second.Rotated || first.Info.LUKS.UUID == second.Info.LUKS.UUID {
		t.Fatalf("rotated %v/%v, UUIDs %s/%s", first.Rotated, second.Rotated, first.Info.LUKS.UUID, second.Info.LUKS.UUID)
	}
	p := readPayload(t, o.Payload)
	guardAndKey(t, o.Output, p)
	if p.LUKSUUID != second.Info.LUKS.UUID || readManifest(t, second.Manifest).LUKS.UUID != p.LUKSUUID {
		t.Error("the replaced outputs do not belong together")
	}
	now, _ := os.ReadFile(o.Payload)
	if bytes.Equal(now, old) {
		t.Error("payload not replaced")
	}
	checkStoreSecret(t, o.Store, now, testDigest, strings.Repeat("ab", 48))
	if got := dirNames(t, out); len(got) != 4 {
		t.Errorf("output directory holds %v", got)
	}
}
