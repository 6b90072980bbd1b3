package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
)

func TestDiskIdentity(t *testing.T) {
	img, dir := disktest.Image(t, "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
	key := filepath.Join(dir, "right.key")
	wrong := filepath.Join(dir, "wrong.key")
	if os.WriteFile(key, disktest.Key, 0o600) != nil || os.WriteFile(wrong, []byte("not the key"), 0o600) != nil {
		t.Fatal("writing key files")
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"disk", "identity", "--key-file", key, img}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v: %q", err, stdout.String())
	}
	want := map[string]any{"version": float64(1), "key": base64.StdEncoding.EncodeToString(disktest.Key),
		"luks_uuid": disktest.UUID, "header_sha256": identityOf(t, img)}
	if len(got) != len(want) {
		t.Errorf("members %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if p, err := disk.ParsePayload(bytes.TrimSpace(stdout.Bytes())); err != nil || !bytes.Equal(p.Key.Bytes(), disktest.Key) {
		t.Errorf("ParsePayload(output) = %v", err)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty: %q", stderr.String())
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--key-file", wrong, img}, 1},
		{[]string{"--key-file", key, "--uuid", "00000000-0000-4000-8000-000000000000", img}, 1},
		{[]string{"--key-file", key, "--json", img}, 2},
		{[]string{img}, 2},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run(append([]string{"disk", "identity"}, tt.args...), &stdout, &stderr); code != tt.code {
			t.Errorf("%v: exit %d, want %d (%s)", tt.args, code, tt.code, stderr.String())
		}
		if stdout.Len() != 0 || strings.Contains(stderr.String(), base64.StdEncoding.EncodeToString(disktest.Key)) {
			t.Errorf("%v: stdout %q, stderr %q: no payload may be printed", tt.args, stdout.String(), stderr.String())
		}
	}
}

// identityOf reads an image's identity with the guard.
func identityOf(t *testing.T, img string) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := disk.ReadMetadata(f, uint64(st.Size()), "")
	if err != nil {
		t.Fatal(err)
	}
	return m.Identity()
}
