package initramfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// built returns spec's image with compression c and the uncompressed
// archive it must hold.
func built(t *testing.T, c Compression) (img, raw []byte) {
	t.Helper()
	s := testSpec()
	s.Compression = c
	var out, cpio bytes.Buffer
	if err := Build(s, &out); err != nil {
		t.Fatalf("Build %q: %v", c, err)
	}
	if err := WriteCPIO(s, &cpio); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), cpio.Bytes()
}

// TestBuildCompressions: each compression writes its own format (checked
// against the format's specification and decoded by its own library), and
// the zero value is zstd.
func TestBuildCompressions(t *testing.T) {
	for _, c := range Compressions() {
		t.Run(string(c), func(t *testing.T) {
			img, raw := built(t, c)
			if got := decompress(t, img, c); !bytes.Equal(got, raw) {
				t.Errorf("decoded %d bytes, want the %d-byte archive", len(got), len(raw))
			}
			if len(img) >= len(raw) && c != Gzip {
				t.Errorf("%d bytes compressed from %d", len(img), len(raw))
			}
		})
	}
	def, _ := built(t, "")
	if zs, _ := built(t, Zstd); !bytes.Equal(def, zs) || DefaultCompression != Zstd {
		t.Error("a Spec without a compression is not zstd")
	}
}

// TestXZKernelFormat: the xz stream header (xz file format 1.2.1 §2.1.1)
// names CRC32 as the check, the only one the kernel's xz decoder has.
func TestXZKernelFormat(t *testing.T) {
	img, _ := built(t, XZ)
	want := []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0x00, 0x01} // magic, stream flags: check type 1 = CRC32
	if !bytes.HasPrefix(img, want) {
		t.Errorf("stream header % x, want % x", img[:8], want)
	}
}

// TestZstdFrameHeader: for an archive larger than the window, the frame
// (RFC 8878 §3.1.1) carries a content checksum and a window descriptor of
// at most 8 MiB, the buffer the kernel allocates while unpacking.
func TestZstdFrameHeader(t *testing.T) {
	big := make([]byte, 9<<20) // incompressible, so the encoder cannot shrink it below the window
	if _, err := rand.NewChaCha8([32]byte{1}).Read(big); err != nil {
		t.Fatal(err)
	}
	s := testSpec()
	s.Extra = append(s.Extra, File{Path: "/big", Data: big})
	var out bytes.Buffer
	if err := Build(s, &out); err != nil {
		t.Fatal(err)
	}
	img := out.Bytes()
	if binary.LittleEndian.Uint32(img) != 0xfd2fb528 {
		t.Fatalf("magic % x", img[:4])
	}
	fhd := img[4]
	if fhd&0x04 == 0 {
		t.Error("no content checksum flag")
	}
	if fhd&0x20 != 0 {
		t.Fatal("single segment: no window descriptor")
	}
	exp, mant := uint64(img[5]>>3), uint64(img[5]&7)
	base := uint64(1) << (10 + exp)
	if w := base + base/8*mant; w > 8<<20 {
		t.Errorf("window %d bytes, want at most 8 MiB", w)
	}
}

func TestBuildUnknownCompression(t *testing.T) {
	s := testSpec()
	s.Compression = "lz4"
	if err := Build(s, io.Discard); !errors.Is(err, ErrUnknownCompression) {
		t.Errorf("Build = %v, want ErrUnknownCompression", err)
	}
}

func TestParseCompression(t *testing.T) {
	for _, c := range []Compression{Zstd, XZ, Gzip} {
		if got, err := ParseCompression(string(c)); got != c || err != nil {
			t.Errorf("ParseCompression(%q) = %q, %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "lz4", "ZSTD", "bzip2"} {
		if _, err := ParseCompression(bad); !errors.Is(err, ErrUnknownCompression) {
			t.Errorf("ParseCompression(%q) = %v, want ErrUnknownCompression", bad, err)
		}
	}
	if got := Compressions(); !slices.Equal(got, []Compression{Zstd, XZ, Gzip}) {
		t.Errorf("Compressions() = %q", got)
	}
}

// TestNewReader reads every compression and a plain archive back, and
// refuses what is neither.
func TestNewReader(t *testing.T) {
	for _, c := range Compressions() {
		img, raw := built(t, c)
		if got := readAll(t, img); !bytes.Equal(got, raw) {
			t.Errorf("%s: read %d bytes, want the %d-byte archive", c, len(got), len(raw))
		}
	}
	_, raw := built(t, Gzip)
	if got := readAll(t, raw); !bytes.Equal(got, raw) {
		t.Error("uncompressed archive not passed through")
	}
	for _, bad := range [][]byte{nil, []byte("BZh91AY&SY"), {0x04, 0x22, 0x4d, 0x18}} {
		if _, err := NewReader(bytes.NewReader(bad)); !errors.Is(err, ErrUnknownCompression) {
			t.Errorf("% x: %v, want ErrUnknownCompression", bad, err)
		}
	}
}

func readAll(t *testing.T, img []byte) []byte {
	t.Helper()
	r, err := NewReader(bytes.NewReader(img))
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return b
}
