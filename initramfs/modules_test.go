package initramfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cvminit/cvminit/initramfs/initramfstest"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

const rel = "6.1.0-99-amd64"

// mod is a shorthand for a test module built for rel.
func mod(name string, deps ...string) []byte { return initramfstest.Module(name, rel, deps...) }

// tree writes files under a fresh <tmp>/<rel> directory and opens it.
func tree(t *testing.T, files map[string][]byte) *ModuleTree {
	t.Helper()
	dir := filepath.Join(t.TempDir(), rel)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	initramfstest.WriteTree(t, dir, files)
	mt, err := OpenModuleTree(dir, "")
	if err != nil {
		t.Fatalf("OpenModuleTree: %v", err)
	}
	return mt
}

// dmTree mirrors the shape of Debian's tree: hyphenated file names and
// depends= entries, underscored name= entries, one built-in module.
func dmTree() map[string][]byte {
	return map[string][]byte{
		"kernel/drivers/md/dm-mod.ko":             mod("dm_mod"),
		"kernel/drivers/md/dm-bufio.ko":           mod("dm_bufio"),
		"kernel/lib/reed_solomon/reed_solomon.ko": mod("reed_solomon"),
		"kernel/drivers/md/dm-crypt.ko":           mod("dm_crypt", "dm-mod"),
		"kernel/drivers/md/dm-verity.ko":          mod("dm_verity", "reed_solomon", "dm-mod", "dm-bufio"),
		"kernel/crypto/xts.ko":                    mod("xts"),
		"modules.builtin":                         []byte("kernel/crypto/cbc.ko\nkernel/crypto/aes_generic.ko\n"),
		"modules.order":                           []byte("kernel/drivers/md/dm-mod.ko\n"),
	}
}

func TestResolveOrder(t *testing.T) {
	base := "/lib/modules/" + rel + "/kernel/"
	tests := []struct {
		name        string
		wanted      []string
		wantPaths   []string
		wantBuiltin []string
	}{
		{"single", []string{"xts"}, []string{base + "crypto/xts.ko"}, nil},
		{"dep first, hyphen name", []string{"dm-crypt"},
			[]string{base + "drivers/md/dm-mod.ko", base + "drivers/md/dm-crypt.ko"}, nil},
		{"depends order kept, shared dep once", []string{"dm_verity", "dm_crypt"}, []string{
			base + "lib/reed_solomon/reed_solomon.ko", base + "drivers/md/dm-mod.ko",
			base + "drivers/md/dm-bufio.ko", base + "drivers/md/dm-verity.ko", base + "drivers/md/dm-crypt.ko"}, nil},
		{"wanted twice and already a dep", []string{"dm_crypt", "dm_mod", "dm-crypt"},
			[]string{base + "drivers/md/dm-mod.ko", base + "drivers/md/dm-crypt.ko"}, nil},
		{"builtin skipped", []string{"cbc", "xts", "aes-generic", "cbc"},
			[]string{base + "crypto/xts.ko"}, []string{"cbc", "aes_generic"}},
		{"nothing", nil, []string{}, nil},
	}
	mt := tree(t, dmTree())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := mt.Resolve(tc.wanted)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := c.Paths(); !slices.Equal(got, tc.wantPaths) {
				t.Errorf("paths:\n got %q\nwant %q", got, tc.wantPaths)
			}
			if !slices.Equal(c.Builtin, tc.wantBuiltin) {
				t.Errorf("builtin = %q, want %q", c.Builtin, tc.wantBuiltin)
			}
			if c.Release != rel {
				t.Errorf("release = %q", c.Release)
			}
		})
	}
}

func TestResolveModuleData(t *testing.T) {
	files := dmTree()
	c, err := tree(t, files).Resolve([]string{"dm_crypt"})
	if err != nil {
		t.Fatal(err)
	}
	m := c.Modules[1]
	if m.Name != "dm_crypt" || !slices.Equal(m.Depends, []string{"dm_mod"}) {
		t.Errorf("module = %s depends %q, want dm_crypt depends [dm_mod]", m.Name, m.Depends)
	}
	if !bytes.Equal(m.Data, files["kernel/drivers/md/dm-crypt.ko"]) {
		t.Error("module data differs from the file")
	}
	fs := c.Files()
	if len(fs) != 3 || fs[1].Path != m.Path || fs[1].Mode != 0o644 || !bytes.Equal(fs[1].Data, m.Data) {
		t.Errorf("Files() = %+v", fs)
	}
	if dep, _ := c.DepFile(); fs[2].Path != "/lib/modules/"+rel+"/modules.dep" || !bytes.Equal(fs[2].Data, dep.Data) {
		t.Errorf("Files() ends with %s, want the modules.dep", fs[2].Path)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string][]byte
		wanted string
		want   error
	}{
		{"missing module", nil, "nope", ErrModuleNotFound},
		{"missing dep", map[string][]byte{"a.ko": mod("a", "b")}, "a", ErrModuleNotFound},
		{"empty name", nil, " ", ErrModuleNotFound},
		{"cycle", map[string][]byte{"a.ko": mod("a", "b"), "b.ko": mod("b", "c"), "c.ko": mod("c", "a")},
			"a", ErrDependencyCycle},
		{"self cycle", map[string][]byte{"a.ko": mod("a", "a")}, "a", ErrDependencyCycle},
		{"other kernel", map[string][]byte{"a.ko": initramfstest.Module("a", "6.1.0-1-amd64")}, "a", ErrWrongKernel},
		{"no vermagic", map[string][]byte{"a.ko": initramfstest.ModuleWithModinfo(
			initramfstest.Modinfo("name=a", "depends="))}, "a", ErrBadModule},
		{"name mismatch", map[string][]byte{"a.ko": mod("b")}, "a", ErrBadModule},
		{"not ELF", map[string][]byte{"a.ko": []byte("hello")}, "a", ErrBadModule},
		{"not relocatable", map[string][]byte{"a.ko": initramfstest.Executable("")}, "a", ErrBadModule},
		{"bad xz", map[string][]byte{"a.ko.xz": mod("a")}, "a", ErrBadModule},
		{"bad zst", map[string][]byte{"a.ko.zst": mod("a")}, "a", ErrBadModule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tree(t, tc.files).Resolve([]string{tc.wanted})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Resolve(%q) = %v, want %v", tc.wanted, err, tc.want)
			}
		})
	}
}

func TestOpenModuleTreeErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), rel)
	initramfstest.WriteTree(t, dir, map[string][]byte{"a/x-y.ko": mod("x_y"), "b/x_y.ko.xz": mod("x_y")})
	if _, err := OpenModuleTree(dir, ""); err == nil {
		t.Error("duplicate module names accepted")
	}
	if _, err := OpenModuleTree(filepath.Join(dir, "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	for _, r := range []string{"a/b", "a b", "."} {
		if _, err := OpenModuleTree(dir, r); err == nil {
			t.Errorf("release %q accepted", r)
		}
	}
}

func TestResolveCompressed(t *testing.T) {
	plain := mod("a")
	tests := []struct {
		ext      string
		compress func(*testing.T, []byte) []byte
	}{
		{".ko.xz", func(t *testing.T, b []byte) []byte {
			var buf bytes.Buffer
			w, err := xz.NewWriter(&buf)
			mustWrite(t, w, err, b)
			return buf.Bytes()
		}},
		{".ko.gz", func(t *testing.T, b []byte) []byte {
			var buf bytes.Buffer
			mustWrite(t, gzip.NewWriter(&buf), nil, b)
			return buf.Bytes()
		}},
		{".ko.zst", func(t *testing.T, b []byte) []byte {
			var buf bytes.Buffer
			w, err := zstd.NewWriter(&buf)
			mustWrite(t, w, err, b)
			return buf.Bytes()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.ext, func(t *testing.T) {
			mt := tree(t, map[string][]byte{"kernel/a" + tc.ext: tc.compress(t, plain)})
			c, err := mt.Resolve([]string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Paths(); !slices.Equal(got, []string{"/lib/modules/" + rel + "/kernel/a.ko"}) {
				t.Errorf("paths = %q", got)
			}
			if !bytes.Equal(c.Modules[0].Data, plain) {
				t.Error("decompressed data differs")
			}
		})
	}
}

type writeCloser interface {
	Write([]byte) (int, error)
	Close() error
}

func mustWrite(t *testing.T, w writeCloser, err error, b []byte) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultModulesFresh(t *testing.T) {
	a := DefaultModules()
	a[0] = "changed"
	if DefaultModules()[0] == "changed" {
		t.Error("DefaultModules shares its slice")
	}
	if !slices.Contains(a, "dm_crypt") || !slices.Contains(a, "aesni_intel") || !slices.Contains(a, "crc32c_generic") {
		t.Errorf("defaults %q lack modules REFERENCE.md §5 requires", a)
	}
	if slices.Contains(a, "xts") || slices.Contains(a, "ecb") {
		t.Errorf("defaults %q carry a template that would let dm-crypt use table-based AES", a)
	}
}
