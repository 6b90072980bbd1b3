//go:build unix

package seal

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// TestSealRefusals: each bad input or option is refused with one line
// naming the problem, and leaves nothing in the output directory (beyond
// what the case put there itself).
func TestSealRefusals(t *testing.T) {
	needTools(t)
	in := makeTree(t)
	notTar := filepath.Join(t.TempDir(), "notes.txt")
	must(t, os.WriteFile(notTar, []byte("not a tar archive, just words\n"), 0o644))
	cases := []struct {
		name  string
		setup func(out string, o *Options) // may create files in out
		want  error
		text  []string // all in the message
	}{
		{"input missing", func(out string, o *Options) { o.Input = filepath.Join(out, "nope") }, ErrInput, []string{"nope"}},
		{"input a device", func(out string, o *Options) { o.Input = "/dev/null" }, ErrInput, []string{"/dev/null", "neither"}},
		{"input not tar", func(out string, o *Options) { o.Input = notTar }, ErrInput, []string{"not a tar archive"}},
		{"output exists", func(out string, o *Options) { touch(t, o.Output) }, ErrExists, []string{"root.img", "--force"}},
		{"manifest exists", func(out string, o *Options) { touch(t, o.Output+".manifest.json") }, ErrExists, []string{"manifest.json"}},
		{"payload exists", func(out string, o *Options) { touch(t, o.Payload) }, ErrExists, []string{"payload.json"}},
		{"size too small", func(out string, o *Options) { o.Size = 4096 }, ErrTooSmall, []string{"4096 bytes asked", "needs at least"}},
		{"size too small for mkfs", func(out string, o *Options) { o.Size = planMin(t, in) }, ErrTooSmall, []string{"asked", "needs about"}},
		{"nowhere for the key", func(out string, o *Options) { o.Payload = "" }, ErrOptions, []string{"payload file or a broker store"}},
		{"bad measurement", func(out string, o *Options) { o.Measurements = []string{"abc"} }, ErrOptions, []string{"measurement 1"}},
		{"bad resource", func(out string, o *Options) { o.Resource = "disk/root" }, ErrOptions, []string{"resource"}},
		{"output in input", func(out string, o *Options) { o.Input = out; o.Output = filepath.Join(out, "x.img") }, ErrOptions, []string{"inside the input"}},
		{"same file", func(out string, o *Options) { o.Payload = o.Output }, ErrOptions, []string{"same file"}},
		{"store in input", func(out string, o *Options) {
			o.Input = filepath.Join(out, "rootfs")
			must(t, os.Mkdir(o.Input, 0o755))
			must(t, os.Symlink(o.Input, filepath.Join(out, "alias")))
			o.Store = filepath.Join(out, "alias", "store")
		}, ErrOptions, []string{"store", "inside the input"}},
		{"unknown fs", func(out string, o *Options) { o.FS = "xfs" }, ErrOptions, []string{"xfs"}},
		{"size with erofs", func(out string, o *Options) { o.FS, o.Size = FSErofs, 1<<30 }, ErrOptions, []string{"only for ext4"}},
		{"tool fails midway", func(out string, o *Options) {
			o.Tools.Veritysetup = filepath.Join(out, "gone", "veritysetup")
		}, nil, []string{"verity: ", "veritysetup"}},
		{"resource in store", func(out string, o *Options) {
			o.Store = filepath.Join(out, "store")
			s, err := store.Open(o.Store)
			must(t, err)
			must(t, s.Add(DefaultResource, []byte("old"), nil))
			s.Close()
		}, ErrExists, []string{"default/disk/root", "--force"}},
	}
	if _, err := LookTool("mkfs.erofs", "erofs-utils"); err != nil {
		cases = append(cases, struct {
			name  string
			setup func(out string, o *Options)
			want  error
			text  []string
		}{"erofs absent", func(out string, o *Options) { o.FS = FSErofs }, ErrMissingTool, []string{"erofs-utils"}})
	}
	if _, err := LookTool("qemu-img", "qemu-utils"); err != nil {
		cases = append(cases, struct {
			name  string
			setup func(out string, o *Options)
			want  error
			text  []string
		}{"qemu-img absent", func(out string, o *Options) { o.Format = FormatQCOW2 }, ErrMissingTool, []string{"qemu-utils"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			o := Options{Input: in, Output: filepath.Join(out, "root.img"), Payload: filepath.Join(out, "payload.json")}
			c.setup(out, &o)
			before := dirNames(t, out)
			_, err := Seal(context.Background(), o)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("Seal = %v, want %v", err, c.want)
			}
			t.Log(err)
			for _, s := range c.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error on more than one line: %q", err)
			}
			if after := dirNames(t, out); !slices.Equal(before, after) {
				t.Errorf("output directory went from %v to %v", before, after)
			}
		})
	}
}

// planMin is the least size the tree needs by the estimate: enough to pass
// the early check, too little for mkfs.
func planMin(t *testing.T, dir string) int64 {
	t.Helper()
	tr := &tree{dir: dir}
	must(t, tr.scan(context.Background()))
	p, err := planExt4(tr.use, 4096)
	if err == nil || p.need < 4096 {
		t.Fatalf("planExt4: %v", err)
	}
	return p.need
}

// TestSealInterrupted: cancelling during encryption kills cryptsetup and
// leaves no output and no key file.
func TestSealInterrupted(t *testing.T) {
	needTools(t)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := t.TempDir()
	o := Options{Input: makeTree(t), Output: filepath.Join(out, "root.img"), Payload: filepath.Join(out, "p.json"),
		keyBase: keys, Progress: func(p Progress) {
			if p.Step == "luks" && !p.Finished {
				cancel()
			}
		}}
	_, err := Seal(ctx, o)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Seal = %v, want ErrInterrupted", err)
	}
	if n := dirNames(t, out); len(n) != 0 {
		t.Errorf("left behind: %v", n)
	}
	if n := dirNames(t, keys); len(n) != 0 {
		t.Errorf("key directory left behind: %v", n)
	}
}

// TestExtractRefusesHostileArchives: names that leave the tree, links that
// would carry writes out of it, device nodes without root and other
// compressions are refused, and nothing is written outside the tree.
func TestExtractRefusesHostileArchives(t *testing.T) {
	cases := []struct {
		name    string
		entries []tarEntry
		text    string
	}{
		{"absolute", []tarEntry{{name: "/etc/evil", typ: tar.TypeReg, body: "x"}}, "absolute"},
		{"dotdot", []tarEntry{{name: "../evil", typ: tar.TypeReg, body: "x"}}, `".."`},
		{"inner dotdot", []tarEntry{{name: "a/../../evil", typ: tar.TypeReg, body: "x"}}, `".."`},
		{"symlink out", []tarEntry{{name: "up", typ: tar.TypeSymlink, link: "../.."}, {name: "up/evil", typ: tar.TypeReg, body: "x"}}, "up/evil"},
		{"absolute symlink out", []tarEntry{{name: "etc", typ: tar.TypeSymlink, link: "/tmp"}, {name: "etc/evil", typ: tar.TypeReg, body: "x"}}, "etc/evil"},
		{"hard link out", []tarEntry{{name: "pw", typ: tar.TypeLink, link: "/etc/passwd"}}, "hard link target"},
		{"hard link dotdot", []tarEntry{{name: "pw", typ: tar.TypeLink, link: "../x"}}, "hard link target"},
		{"control char", []tarEntry{{name: "a\nb", typ: tar.TypeReg, body: "x"}}, "control character"},
		{"file over dir", []tarEntry{{name: "d/", typ: tar.TypeDir, mode: 0o755}, {name: "d", typ: tar.TypeReg, body: "x"}}, "replaces a directory"},
		{"device", []tarEntry{{name: "dev/sda", typ: tar.TypeBlock, mode: 0o600}}, "needs root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			_, err := extract(context.Background(), makeTar(t, c.entries), filepath.Join(base, "tree"), false, false)
			if err == nil || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("extract = %v, want an error mentioning %q", err, c.text)
			}
			if n := dirNames(t, base); !slices.Equal(n, []string{"tree"}) {
				t.Errorf("written outside the tree: %v", n)
			}
			if _, err := os.Lstat("/tmp/evil"); err == nil {
				t.Error("/tmp/evil written")
			}
		})
	}
}

// TestArchiveKinds: other compressions and non-archives are refused by name.
func TestArchiveKinds(t *testing.T) {
	for name, head := range map[string]string{"xz": "\xfd7zXZ\x00rest", "zstd": "\x28\xb5\x2f\xfdrest",
		"bzip2": "BZh91AY", "not a tar": "hello world, this is not an archive at all"} {
		p := filepath.Join(t.TempDir(), "in")
		must(t, os.WriteFile(p, []byte(head), 0o644))
		_, err := extract(context.Background(), p, filepath.Join(t.TempDir(), "tree"), false, false)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: extract = %v", name, err)
		}
	}
}

func touch(t testing.TB, p string) { must(t, os.WriteFile(p, []byte("old"), 0o600)) }
