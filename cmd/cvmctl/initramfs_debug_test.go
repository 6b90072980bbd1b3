package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/initramfs"
	"github.com/cvminit/cvminit/initramfs/initramfstest"
	"github.com/u-root/u-root/pkg/cpio"
)

// tool is a static executable whose bytes name it, so that two tools differ.
func tool(name string) []byte { return append(initramfstest.Executable(""), name...) }

// toolsDir writes gosh and ls (in the given order, with perm and mtime), a
// sub-directory that must be skipped and a symbolic link that must be
// followed, and returns the directory.
func toolsDir(t *testing.T, dir string, order []string, perm os.FileMode, mtime time.Time) string {
	t.Helper()
	d := filepath.Join(dir, "tools")
	for _, n := range order {
		initramfstest.WriteTree(t, d, map[string][]byte{n: tool(n)})
		if err := os.Chmod(filepath.Join(d, n), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(d, n), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	initramfstest.WriteTree(t, d, map[string][]byte{"sub/cat": tool("cat")})
	if err := os.Symlink(filepath.Join(d, "gosh"), filepath.Join(d, "sh")); err != nil {
		t.Fatal(err)
	}
	return d
}

// records reads every cpio record of the image, in any of the
// compressions initramfs.NewReader reads: name -> mode and contents.
func records(t *testing.T, img []byte) map[string]cpio.Record {
	t.Helper()
	zr, err := initramfs.NewReader(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]cpio.Record{}
	err = cpio.ForEachRecord(cpio.Newc.Reader(bytes.NewReader(raw)), func(r cpio.Record) error {
		recs[r.Name] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestInitramfsDebugTools(t *testing.T) {
	yaml := testYAML(testCAPEM(t), "emulated")
	dir := t.TempDir()
	args := inputs(t, dir, yaml, 0o644, time.Unix(1e9, 0))
	tools := toolsDir(t, dir, []string{"ls", "gosh"}, 0o700, time.Unix(1e9, 0))
	want := map[string][]byte{"bin/gosh": tool("gosh"), "bin/ls": tool("ls"), "bin/sh": tool("gosh")}
	tests := []struct {
		name  string
		flags []string
		want  map[string][]byte
	}{
		{"production", nil, nil},
		{"debug without tools", []string{"--debug"}, nil},
		{"debug with tools", []string{"--debug", "--debug-tools", tools}, want},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs := records(t, build(t, append(append([]string{}, args...), tc.flags...)))
			got := 0
			for name, r := range recs {
				if name == "bin" {
					if r.Mode != cpio.S_IFDIR|0o755 {
						t.Errorf("/bin mode %o, want directory 0755", r.Mode)
					}
					continue
				}
				if !strings.HasPrefix(name, "bin/") {
					continue
				}
				got++
				data, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
				if w, ok := tc.want[name]; !ok || !bytes.Equal(data, w) || r.Mode != cpio.S_IFREG|0o755 {
					t.Errorf("/%s: mode %o, %d bytes; want a regular 0755 file of %d bytes (expected: %v)", name, r.Mode, len(data), len(w), ok)
				}
			}
			if _, hasBin := recs["bin"]; got != len(tc.want) || hasBin != (len(tc.want) > 0) {
				t.Errorf("%d files under /bin (dir present %v), want %d", got, hasBin, len(tc.want))
			}
		})
	}
}

// TestInitramfsDebugToolsReproducible: the tools' directory, creation order,
// modes and times do not change the image.
func TestInitramfsDebugToolsReproducible(t *testing.T) {
	yaml := testYAML(testCAPEM(t), "emulated")
	img := func(dir string, order []string, perm os.FileMode, mtime time.Time) []byte {
		args := inputs(t, dir, yaml, 0o644, mtime)
		return build(t, append(args, "--debug", "--debug-tools", toolsDir(t, dir, order, perm, mtime)))
	}
	a := img(t.TempDir(), []string{"gosh", "ls"}, 0o755, time.Unix(1e9, 0))
	b := img(filepath.Join(t.TempDir(), "x", "y"), []string{"ls", "gosh"}, 0o500, time.Unix(1.7e9, 0))
	if !bytes.Equal(a, b) {
		t.Fatalf("two debug builds of the same tools differ (%d and %d bytes)", len(a), len(b))
	}
	plain := build(t, append(inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0)), "--debug"))
	if bytes.Equal(a, plain) {
		t.Error("--debug-tools did not change the image")
	}
}
