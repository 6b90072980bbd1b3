package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestPermissions(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "secret", m1)
	want := map[string]fs.FileMode{
		".": fs.ModeDir | 0o700, "secrets": fs.ModeDir | 0o700, "secrets/r": fs.ModeDir | 0o700,
		"secrets/r/t": fs.ModeDir | 0o700, "secrets/r/t/k": 0o600, indexName: 0o600, lockName: 0o600,
	}
	for name, mode := range want {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != mode {
			t.Errorf("%s: mode %v (%v), want %v", name, fi.Mode(), err, mode)
		}
	}
}

func TestOpenRefusesOpenDirectory(t *testing.T) {
	for _, mode := range []fs.FileMode{0o750, 0o705, 0o720, 0o777} {
		dir := t.TempDir()
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); !errors.Is(err, ErrInsecureDir) {
			t.Errorf("mode %04o: Open err %v, want ErrInsecureDir", mode, err)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(file); err == nil {
		t.Error("Open accepted a regular file")
	}
}

func TestCorruptIndex(t *testing.T) {
	good := `"updated":"2025-01-01T00:00:00Z"`
	cases := map[string]string{
		"empty":               ``,
		"garbage":             `{"version":1,`,
		"array":               `[]`,
		"unknown top member":  `{"version":1,"resources":{},"extra":1}`,
		"unknown entry":       `{"version":1,"resources":{"a/b/c":{"measurements":[],` + good + `,"file":"/etc/shadow"}}}`,
		"version 2":           `{"version":2,"resources":{}}`,
		"no version":          `{"resources":{}}`,
		"no resources":        `{"version":1}`,
		"bad path":            `{"version":1,"resources":{"a/../c":{"measurements":[],` + good + `}}}`,
		"bad measurement":     `{"version":1,"resources":{"a/b/c":{"measurements":["abc"],` + good + `}}}`,
		"upper measurement":   `{"version":1,"resources":{"a/b/c":{"measurements":["` + strings.ToUpper(m1) + `"],` + good + `}}}`,
		"dup measurement":     `{"version":1,"resources":{"a/b/c":{"measurements":["` + m1 + `","` + m1 + `"],` + good + `}}}`,
		"null entry":          `{"version":1,"resources":{"a/b/c":null}}`,
		"no updated":          `{"version":1,"resources":{"a/b/c":{"measurements":[]}}}`,
		"trailing data":       `{"version":1,"resources":{}} {}`,
		"measurements string": `{"version":1,"resources":{"a/b/c":{"measurements":"` + m1 + `",` + good + `}}}`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			s, dir := newStore(t)
			mustAdd(t, s, "r/t/k", "s", m1)
			file := filepath.Join(dir, indexName)
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Index()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), file) {
				t.Errorf("Index of open store: %v, want ErrCorrupt naming %s", err, file)
			}
			if _, err := Open(dir); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
			if err := s.Allow("r/t/k", m2); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Allow: %v, want ErrCorrupt", err)
			}
			if got, _ := os.ReadFile(file); string(got) != content {
				t.Error("a write replaced the corrupt index")
			}
		})
	}
}

func TestIndexCache(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "s", m1)
	a, _ := s.Index()
	if b, _ := s.Index(); a != b {
		t.Fatal("unchanged index.json was parsed again")
	}
	admin, err := Open(dir) // another process's view
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Allow("r/t/k", m2); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Index()
	if c == a || len(c.Measurements("r/t/k")) != 2 {
		t.Fatal("change by another store not seen")
	}
	// An in-place rewrite (same inode) is seen through size and mtime.
	raw, _ := os.ReadFile(filepath.Join(dir, indexName))
	raw = bytes.Replace(raw, []byte(`"`+m2+`"`), []byte(`"`+m3+`", "`+m2+`"`), 1)
	if err := os.WriteFile(filepath.Join(dir, indexName), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Index(); len(d.Measurements("r/t/k")) != 3 {
		t.Fatal("in-place rewrite not seen")
	}
	if err := os.Remove(filepath.Join(dir, indexName)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Index(); err == nil {
		t.Fatal("missing index served from cache")
	}
}

func TestConcurrentWritersSerialize(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "s")
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			w, err := Open(dir) // each writer as if it were its own process
			if err == nil {
				err = w.Allow("r/t/k", fmt.Sprintf("%096x", i+1))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if x, _ := s.Index(); len(x.Measurements("r/t/k")) != n {
		t.Fatalf("%d measurements after %d concurrent allows: updates were lost", len(x.Measurements("r/t/k")), n)
	}
}

func TestConcurrentReadersDuringRotate(t *testing.T) {
	s, _ := newStore(t)
	val := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i) }
	if err := s.Add("r/t/k", val(0), []string{m1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := s.Secret("r/t/k")
				if err != nil || len(b) < 1000 || !bytes.Equal(b, val(len(b)-1000)) {
					t.Errorf("reader saw %d bytes, %v", len(b), err)
					return
				}
			}
		})
	}
	for i := 1; i < 30; i++ {
		if err := s.Rotate("r/t/k", val(i)); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestStaleTempFilesIgnoredThenSwept(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "real", m1)
	stale := []string{filepath.Join(dir, ".~tmp-1"), filepath.Join(dir, "secrets/r/t/.~tmp-2")}
	for _, f := range stale {
		if err := os.WriteFile(f, []byte("torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	wantSecret(t, s, "r/t/k", "real")
	if list, _ := s.List(); len(list) != 1 {
		t.Fatalf("List sees %d resources", len(list))
	}
	if err := s.Allow("r/t/k", m2); err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived a write: %v", f, err)
		}
	}
	wantSecret(t, s, "r/t/k", "real")
}
