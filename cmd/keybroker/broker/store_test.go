package broker

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		size int
		ok   bool
	}{
		{"empty", 0, false}, {"disk key", 32, true}, {"largest", maxSecret, true}, {"too large", maxSecret + 1, false},
	}
	for _, c := range cases {
		data := bytes.Repeat([]byte{0x5A}, c.size)
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSecret(path)
		if (err == nil) != c.ok || c.ok && !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want ok %v", c.name, len(got), err, c.ok)
		}
	}
	if _, err := readSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file read")
	}
}

// TestReadBoundedGrown: a file may grow or shrink between Stat and the read.
func TestReadBoundedGrown(t *testing.T) {
	cases := []struct {
		name       string
		size, hint int
		ok         bool
	}{
		{"as measured", 100, 100, true},
		{"shrank", 50, 100, true},
		{"grew by one", 101, 100, true},
		{"grew a lot", 5000, 100, true},
		{"grew past the limit", maxSecret + 1, 100, false},
		{"grew to the limit", maxSecret, 10, true},
		{"emptied", 0, 100, false},
	}
	for _, c := range cases {
		data := bytes.Repeat([]byte{0xA5}, c.size)
		got, err := readBounded(io.MultiReader(bytes.NewReader(data)), c.hint)
		if (err == nil) != c.ok || c.ok && !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v; want ok %v", c.name, len(got), err, c.ok)
		}
	}
}
