package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/cmd/cvmctl/seal"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// needSealTools skips (or, under CI, fails) without the real tools.
func needSealTools(t *testing.T) {
	t.Helper()
	for _, tl := range [][2]string{{"mkfs.ext4", "e2fsprogs"}, {"veritysetup", "cryptsetup-bin"}, {"cryptsetup", "cryptsetup-bin"}} {
		if _, err := seal.LookTool(tl[0], tl[1]); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CI must have %s: %v", tl[0], err)
			}
			t.Skipf("%v", err)
		}
	}
}

func sealTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	for p, body := range map[string]string{"etc/hostname": "cli-host\n", "sbin/init": "#!/bin/sh\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/sbin/init", filepath.Join(dir, "init")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func sealCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runSeal(args, &o, &e)
	return code, o.String(), e.String()
}

// TestSealCLI: one run writes image, manifest, payload and store; the
// launch digest computed from --ovmf/--kernel/... is the published one and
// lands in the store; the key appears nowhere but in the payload and store.
func TestSealCLI(t *testing.T) {
	needSealTools(t)
	out, empty := t.TempDir(), emptyFile(t)
	img, payload, st := filepath.Join(out, "root.img"), filepath.Join(out, "root.key.json"), filepath.Join(out, "store")
	code, stdout, stderr := sealCLI("--rootfs", sealTree(t), "--out", img, "--payload", payload, "--store", st,
		"--ovmf", amdSev, "--vcpu-type", "EPYC-v4", "--kernel", empty, "--initrd", empty, "--append", "",
		"--measurement", digestSNPOnly)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"sealed " + img, "launch digest  " + digestDefault, "launch digest  " + digestSNPOnly,
		"keybroker resource add", "allowed_measurements"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	raw, err := os.ReadFile(payload)
	if err != nil {
		t.Fatal(err)
	}
	p, err := disk.ParsePayload(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Key.Wipe()
	manifest, _ := os.ReadFile(img + ".manifest.json")
	key := p.Key.Bytes()
	for _, form := range []string{string(key), hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key)} {
		if strings.Contains(stdout+stderr+string(manifest), form) {
			t.Fatal("the disk key appears on stdout, stderr or in the manifest")
		}
	}
	if !strings.Contains(stdout, p.LUKSUUID) || !strings.Contains(stdout, p.Verity.RootHash) {
		t.Errorf("summary lacks the payload's UUID or root hash:\n%s", stdout)
	}
	checkCLIStore(t, st, raw)
}

func checkCLIStore(t *testing.T, dir string, payload []byte) {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Secret(seal.DefaultResource)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("store secret differs from the payload file (%v)", err)
	}
	x, _ := s.Index()
	var ms []string
	for _, m := range x.Measurements(seal.DefaultResource) {
		ms = append(ms, hex.EncodeToString(m))
	}
	if strings.Join(ms, ",") != digestSNPOnly+","+digestDefault {
		t.Errorf("store allows %v, want the given and the computed digest", ms)
	}
}

// TestSealCLIQuiet: --quiet prints nothing at all on success.
func TestSealCLIQuiet(t *testing.T) {
	needSealTools(t)
	out := t.TempDir()
	code, stdout, stderr := sealCLI("--quiet", "--rootfs", sealTree(t), "--out", filepath.Join(out, "i"),
		"--payload", filepath.Join(out, "p"))
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestSealCLIRefusals: bad flags exit 2, failures 1, each with one line
// on stderr, nothing on stdout and nothing written.
func TestSealCLIRefusals(t *testing.T) {
	needSealTools(t)
	tree := sealTree(t)
	cases := []struct {
		name string
		args []string
		code int
		text string
	}{
		{"unknown flag", []string{"--bogus"}, 2, "bogus"},
		{"stray argument", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "extra"}, 2, "extra"},
		{"no rootfs", []string{"--out", "I", "--payload", "P"}, 2, "--rootfs"},
		{"no out", []string{"--rootfs", tree, "--payload", "P"}, 2, "--out"},
		{"no key destination", []string{"--rootfs", tree, "--out", "I"}, 2, "--payload"},
		{"bad size", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "--size", "12Q"}, 2, "--size"},
		{"kernel without ovmf", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "--kernel", "k"}, 2, "--ovmf"},
		{"bad measurement", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "--measurement", "12"}, 2, "measurement"},
		{"bad fs", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "--fs", "xfs"}, 2, "xfs"},
		{"ovmf without vcpu type", []string{"--rootfs", tree, "--out", "I", "--payload", "P", "--ovmf", amdSev}, 2, "--vcpu-type"},
		{"missing rootfs", []string{"--rootfs", "nope", "--out", "I", "--payload", "P"}, 1, "nope"},
		{"output exists", []string{"--rootfs", tree, "--out", "EXISTS", "--payload", "P"}, 1, "--force"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.WriteFile(filepath.Join(out, "EXISTS"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for i, a := range c.args {
				if a == "I" || a == "P" || a == "EXISTS" {
					c.args[i] = filepath.Join(out, a)
				}
			}
			code, stdout, stderr := sealCLI(c.args...)
			if code != c.code || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.text) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one line mentioning %q", code, stdout, stderr, c.code, c.text)
			}
			if names, _ := os.ReadDir(out); len(names) != 1 {
				t.Errorf("%d files in the output directory, want only EXISTS", len(names))
			}
		})
	}
}

func TestSealCLIHelp(t *testing.T) {
	code, stdout, stderr := sealCLI("-h")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "usage: cvmctl seal") || !strings.Contains(stderr, "-vcpu-type") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var e bytes.Buffer
	if code := run([]string{"help"}, &bytes.Buffer{}, &e); code != 2 || !strings.Contains(e.String(), "\n  seal ") {
		t.Errorf("cvmctl help does not list seal:\n%s", e.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "512K": 512 << 10, "64M": 64 << 20, "2g": 2 << 30,
		"1GiB": 1 << 30, "1T": 1 << 40, "0": -1, "-5M": -1, "M": -1, "1.5G": -1, "12Q": -1, "2000T": -1} {
		got, err := parseSize(in)
		if want < 0 && err == nil || want >= 0 && (err != nil || got != want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
