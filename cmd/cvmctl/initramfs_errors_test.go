package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/initramfs"
	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

// setFlag returns args with the value of flag replaced, or removed when
// value is empty.
func setFlag(args []string, flag, value string) []string {
	out := slices.Clone(args)
	i := slices.Index(out, flag)
	if value == "" {
		return slices.Delete(out, i, i+2)
	}
	out[i+1] = value
	return out
}

func TestInitramfsErrors(t *testing.T) {
	dir := t.TempDir()
	good := inputs(t, dir, testYAML(testCAPEM(t), "emulated"), 0o644, time.Now())
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dynamic := write("dynamic", initramfstest.Executable("/lib64/ld-linux-x86-64.so.2"))
	badYAML := write("bad.yaml", []byte("version: 2\n"))
	withModules := write("mods.yaml", append(testYAML(testCAPEM(t), "emulated"), "modules: [/x.ko]\n"...))
	emptyTools := filepath.Join(dir, "empty-tools")
	initramfstest.WriteTree(t, emptyTools, map[string][]byte{"sub/x": initramfstest.Executable("")})
	dynTools := filepath.Join(dir, "dyn-tools")
	initramfstest.WriteTree(t, dynTools, map[string][]byte{"ls": initramfstest.Executable("/lib64/ld-linux-x86-64.so.2")})
	debug := append(slices.Clone(good), "--debug", "--debug-tools")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no sub-command", nil, 2, "cvmctl initramfs: want the sub-command build"},
		{"wrong sub-command", []string{"make"}, 2, "cvmctl initramfs: want"},
		{"unknown flag", append(slices.Clone(good), "--bogus"), 2, "flag provided but not defined"},
		{"extra argument", append(slices.Clone(good), "x"), 2, `unexpected argument "x"`},
		{"empty --module", append(slices.Clone(good), "--module", " "), 2, "empty module name"},
		{"unknown --compress", append(slices.Clone(good), "--compress", "lz4"), 2, `unknown initramfs compression "lz4"`},
		{"missing --config", setFlag(good, "--config", ""), 2, "missing --config"},
		{"missing --output", setFlag(good, "--output", ""), 2, "missing --output"},
		{"config missing", setFlag(good, "--config", filepath.Join(dir, "nope.yaml")), 1, "reading config"},
		{"config invalid", setFlag(good, "--config", badYAML), 1, "version"},
		{"config sets modules", setFlag(good, "--config", withModules), 1, "modules is computed"},
		{"dynamic init", setFlag(good, "--init", dynamic), 1, "dynamically linked"},
		{"unknown module", append(slices.Clone(good), "--module", "nope"), 1, "kernel module not found"},
		{"wrong release", append(slices.Clone(good), "--kernel-release", "6.1.0-1-amd64"), 1, "another kernel release"},
		{"tools without --debug", append(slices.Clone(good), "--debug-tools", emptyTools), 2, "--debug-tools needs --debug"},
		{"tools dir missing", append(slices.Clone(debug), filepath.Join(dir, "nope")), 1, "reading debug tools"},
		{"tools dir without files", append(slices.Clone(debug), emptyTools), 1, "no regular files"},
		{"dynamic tool", append(slices.Clone(debug), dynTools), 1, "dynamically linked"},
		{"output dir missing", setFlag(good, "--output", filepath.Join(dir, "no", "x.img")), 1, "creating output"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runInitramfs(tc.args, &stdout, &stderr)
			msg := stderr.String()
			if code != tc.code || !strings.Contains(msg, tc.msg) || strings.Count(msg, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", code, msg, tc.code, tc.msg)
			}
			if len(tc.args) > 0 && tc.args[0] == "build" && !strings.HasPrefix(msg, "cvmctl initramfs build: ") {
				t.Errorf("stderr %q lacks the command prefix", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q on failure", stdout.String())
			}
		})
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".initramfs-*"))
	if _, err := os.Stat(filepath.Join(dir, "out.img")); err == nil || len(left) > 0 {
		t.Errorf("failed builds left files behind: out.img (%v), %q", err, left)
	}
}

func TestInitramfsHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runInitramfs([]string{"build", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "--modules-dir") || !strings.Contains(stderr.String(), "-debug") {
		t.Errorf("help text %q", stderr.String())
	}
}

// TestConfigPathAgrees: the builder writes the config where the guest reads it.
func TestConfigPathAgrees(t *testing.T) {
	if initramfs.ConfigPath != config.Path {
		t.Errorf("initramfs.ConfigPath %q != config.Path %q", initramfs.ConfigPath, config.Path)
	}
}
