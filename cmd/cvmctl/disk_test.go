package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk/disktest"
)

func TestDiskCheck(t *testing.T) {
	img, dir := disktest.Image(t, "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--sector-size", "4096")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := write("right.key", disktest.Key)
	wrong := write("wrong.key", []byte("not the key"))
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := disktest.Rewrite(raw, func(j map[string]any) {
		disktest.Obj(j, "segments", "0")["encryption"] = "cipher_null-ecb"
	})
	if err != nil {
		t.Fatal(err)
	}
	evilImg := write("evil.img", evil)
	garbage := write("garbage.img", bytes.Repeat([]byte("LUKS\xba\xbe\x00\x02"), 1<<16))
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout (or stderr for errors)
	}{
		{"accepted", []string{"--key-file", key, img}, 0, "ACCEPTED: LUKS2 uuid " + disktest.UUID},
		{"flags after the image", []string{img, "--key-file", key, "--uuid", strings.ToUpper(disktest.UUID)}, 0, "4096-byte sectors"},
		{"wrong key", []string{"--key-file", wrong, img}, 1, "REFUSED: no keyslot opens"},
		{"other uuid", []string{"--key-file", key, "--uuid", "11111111-2222-3333-4444-555555555555", img}, 1, "REFUSED: LUKS2 header rejected: uuid"},
		{"cipher_null header", []string{"--key-file", key, evilImg}, 1, `segments.0.encryption "cipher_null-ecb"`},
		{"garbage", []string{"--key-file", key, garbage}, 1, "REFUSED"},
		{"no such image", []string{"--key-file", key, filepath.Join(dir, "none")}, 1, "no such file"},
		{"no such key file", []string{"--key-file", filepath.Join(dir, "none"), img}, 1, "no such file"},
		{"key file a directory", []string{"--key-file", dir, img}, 1, "regular file"},
		{"no image", []string{"--key-file", key}, 2, "exactly one IMAGE"},
		{"two images", []string{"--key-file", key, img, img}, 2, "exactly one IMAGE"},
		{"no key file", []string{img}, 2, "give exactly one of --key-file and --payload"},
		{"bad flag", []string{"--nope", img}, 2, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"disk", "check"}, tt.args...), &stdout, &stderr)
			all := stdout.String() + stderr.String()
			if code != tt.code || !strings.Contains(all, tt.out) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, all, tt.code, tt.out)
			}
			if bytes.Contains([]byte(all), disktest.Key) {
				t.Error("key material printed")
			}
		})
	}
}

func TestDiskCheckJSON(t *testing.T) {
	img, dir := disktest.Image(t, "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--sector-size", "512")
	key := filepath.Join(dir, "k")
	if err := os.WriteFile(key, disktest.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"disk", "check", "--json", "--key-file", key, img}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var v struct {
		Accepted bool
		Layout   map[string]any
	}
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	// cryptsetup's LUKS2 defaults: 16 KiB header, data at 16 MiB.
	if !v.Accepted || v.Layout["offset"] != float64(16<<20) || v.Layout["sector_size"] != float64(512) ||
		v.Layout["hdr_size"] != float64(16384) || v.Layout["uuid"] != disktest.UUID {
		t.Errorf("verdict %+v", v)
	}
}

func TestDiskUsage(t *testing.T) {
	for args, code := range map[string]int{"": 2, "nope": 2, "help": 0, "check -h": 0} {
		var stdout, stderr bytes.Buffer
		if got := run(append([]string{"disk"}, strings.Fields(args)...), &stdout, &stderr); got != code {
			t.Errorf("cvmctl disk %s: exit %d, want %d (%s)", args, got, code, stderr.String())
		}
	}
}
