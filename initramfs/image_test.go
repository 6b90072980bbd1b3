package initramfs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/ulikunitz/xz"
)

// Linux file type bits (inode(7)).
const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFCHR = 0o020000
)

func testSpec() Spec {
	return Spec{
		Init:   []byte("\x7fELF pretend init"),
		Config: []byte(`{"log":"info"}`),
		Modules: []File{
			{Path: "/lib/modules/R/kernel/b.ko", Data: []byte("module b")},
			{Path: "/lib/modules/R/kernel/a.ko", Data: []byte("module a"), Mode: 0o600},
		},
		Extra: []File{{Path: "/usr/bin/x", Data: []byte("tool"), Mode: 0o755}},
	}
}

// readBack decompresses and parses an image of compression c with readers
// independent of this package: the standard library's gzip, ulikunitz's xz
// and klauspost's zstd decoders, and u-root's newc reader.
func readBack(t *testing.T, img []byte, c Compression) []cpio.Record {
	t.Helper()
	raw := decompress(t, img, c)
	// The reader stops at the trailer; TestFirstHeaderBytes checks it is there.
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("reading cpio: %v", err)
	}
	return recs
}

// decompress undoes compression c with the format's own decoder.
func decompress(t *testing.T, img []byte, c Compression) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch c {
	case Gzip:
		r, err = gzip.NewReader(bytes.NewReader(img))
	case XZ:
		r, err = xz.NewReader(bytes.NewReader(img))
	case Zstd:
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(img))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		t.Fatalf("no decoder for %q", c)
	}
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	return raw
}

func TestBuildReadBack(t *testing.T) {
	want := []struct {
		name         string
		mode         uint64
		data         string
		rmaj, rminor uint64
	}{
		{"dev", sIFDIR | 0o755, "", 0, 0},
		{"dev/console", sIFCHR | 0o600, "", 5, 1},
		{"dev/null", sIFCHR | 0o666, "", 1, 3},
		{"etc", sIFDIR | 0o755, "", 0, 0},
		{"etc/cvminit", sIFDIR | 0o755, "", 0, 0},
		{"etc/cvminit/config.json", sIFREG | 0o644, `{"log":"info"}`, 0, 0},
		{"init", sIFREG | 0o755, "\x7fELF pretend init", 0, 0},
		{"lib", sIFDIR | 0o755, "", 0, 0},
		{"lib/modules", sIFDIR | 0o755, "", 0, 0},
		{"lib/modules/R", sIFDIR | 0o755, "", 0, 0},
		{"lib/modules/R/kernel", sIFDIR | 0o755, "", 0, 0},
		{"lib/modules/R/kernel/a.ko", sIFREG | 0o600, "module a", 0, 0},
		{"lib/modules/R/kernel/b.ko", sIFREG | 0o644, "module b", 0, 0},
		{"newroot", sIFDIR | 0o755, "", 0, 0},
		{"proc", sIFDIR | 0o555, "", 0, 0},
		{"run", sIFDIR | 0o755, "", 0, 0},
		{"sys", sIFDIR | 0o555, "", 0, 0},
		{"tmp", sIFDIR | 0o1777, "", 0, 0},
		{"usr", sIFDIR | 0o755, "", 0, 0},
		{"usr/bin", sIFDIR | 0o755, "", 0, 0},
		{"usr/bin/x", sIFREG | 0o755, "tool", 0, 0},
	}
	var img bytes.Buffer
	if err := Build(testSpec(), &img); err != nil {
		t.Fatalf("Build: %v", err)
	}
	recs := readBack(t, img.Bytes(), DefaultCompression)
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if r.Name != w.name || r.Mode != w.mode || string(data) != w.data || r.Rmajor != w.rmaj || r.Rminor != w.rminor {
			t.Errorf("record %d = %s mode %#o %d:%d %q, want %s mode %#o %d:%d %q",
				i, r.Name, r.Mode, r.Rmajor, r.Rminor, data, w.name, w.mode, w.rmaj, w.rminor, w.data)
		}
		if r.Ino != uint64(i+1) || r.UID != 0 || r.GID != 0 || r.MTime != 0 || r.NLink != 1 {
			t.Errorf("record %s: ino %d uid %d gid %d mtime %d nlink %d, want ino %d, root, time 0, 1 link",
				r.Name, r.Ino, r.UID, r.GID, r.MTime, r.NLink, i+1)
		}
	}
}

// TestFirstHeaderBytes checks the archive start against the newc layout
// (cpio(5) "New ASCII Format": magic 070701, then 13 eight-digit hex fields
// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
// namesize check, then the NUL-terminated name padded to 4 bytes).
func TestFirstHeaderBytes(t *testing.T) {
	var raw bytes.Buffer
	if err := WriteCPIO(testSpec(), &raw); err != nil {
		t.Fatal(err)
	}
	want := "070701" + "00000001" + "000041ED" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "dev\x00"
	if got := raw.String()[:len(want)]; got != want {
		t.Errorf("first record:\n got %q\nwant %q", got, want)
	}
	if !bytes.HasSuffix(raw.Bytes(), []byte("TRAILER!!!\x00\x00\x00\x00")) {
		t.Errorf("archive does not end with the padded trailer: %q", raw.Bytes()[raw.Len()-16:])
	}
}

// TestGzipHeader checks RFC 1952 §2.3: ID1 ID2 CM=8, FLG=0 (no name, no
// comment), MTIME=0, so the header carries nothing from the build machine.
func TestGzipHeader(t *testing.T) {
	var img bytes.Buffer
	s := testSpec()
	s.Compression = Gzip
	if err := Build(s, &img); err != nil {
		t.Fatal(err)
	}
	if got := img.Bytes()[:8]; !bytes.Equal(got, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0}) {
		t.Errorf("gzip header % x, want 1f 8b 08 00 00 00 00 00", got)
	}
}

func TestRecordsErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Spec)
	}{
		{"no init", func(s *Spec) { s.Init = nil }},
		{"no config", func(s *Spec) { s.Config = nil }},
		{"relative path", func(s *Spec) { s.Extra[0].Path = "usr/bin/x" }},
		{"unclean path", func(s *Spec) { s.Extra[0].Path = "/usr/../init" }},
		{"trailing slash", func(s *Spec) { s.Extra[0].Path = "/usr/bin/" }},
		{"root", func(s *Spec) { s.Extra[0].Path = "/" }},
		{"trailer name", func(s *Spec) { s.Extra[0].Path = "/TRAILER!!!" }},
		{"NUL in path", func(s *Spec) { s.Extra[0].Path = "/a\x00b" }},
		{"duplicate of init", func(s *Spec) { s.Extra[0].Path = "/init" }},
		{"duplicate module", func(s *Spec) { s.Modules[1].Path = s.Modules[0].Path }},
		{"over a base dir", func(s *Spec) { s.Extra[0].Path = "/tmp" }},
		{"over a device", func(s *Spec) { s.Extra[0].Path = "/dev/null" }},
		{"below a file", func(s *Spec) { s.Extra[0].Path = "/init/x" }},
		{"setuid", func(s *Spec) { s.Extra[0].Mode |= 0o4000 | 1<<23 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec()
			tc.change(&s)
			if err := Build(s, io.Discard); !errors.Is(err, ErrBadSpec) {
				t.Fatalf("Build = %v, want ErrBadSpec", err)
			}
		})
	}
}
