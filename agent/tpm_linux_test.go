package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenAppend: the real event log file is created 0600, appended to
// (never truncated), set to 0600 if it was there already, and a symbolic
// link in its place is refused.
func TestOpenAppend(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tpm2-measure.log")
	for i, rec := range []string{"\x1e{\"a\":1}\n", "\x1e{\"b\":2}\n"} {
		w, err := osFiles{}.OpenAppend(p, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(rec)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "\x1e{\"a\":1}\n\x1e{\"b\":2}\n" {
		t.Errorf("log = %q, %v; want both records", b, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if w, err := (osFiles{}).OpenAppend(link, 0o600); !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenAppend(symlink) = %v, %v; want ELOOP", w, err)
	}
}
