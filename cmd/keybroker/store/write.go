package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// locked runs fn holding the store's exclusive writer lock, after removing
// temporary files a crashed writer left behind.
func (s *Store) locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening store lock: %w", err)
	}
	defer f.Close() // releases the lock
	if err := lockFile(f); err != nil {
		return fmt.Errorf("locking store %s: %w", s.dir, err)
	}
	if err := s.sweep(); err != nil {
		return err
	}
	return fn()
}

// modify applies fn to the index read afresh under the lock and writes the
// result. fn may write secret files before the index is replaced.
func (s *Store) modify(fn func(f *indexFile) error) error {
	return s.locked(func() error {
		f, err := s.readIndex()
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		return s.writeIndex(f)
	})
}

func (s *Store) writeIndex(f *indexFile) error {
	b, err := f.encode()
	if err != nil {
		return err
	}
	if err := writeAtomic(s.dir, indexName, b); err != nil {
		return fmt.Errorf("writing index %s: %w", s.indexPath(), err)
	}
	return nil
}

// writeSecret atomically replaces the secret file of a validated path.
func (s *Store) writeSecret(path string, secret []byte) error {
	file := s.secretPath(path)
	if err := s.mkdirs(filepath.Dir(file)); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Dir(file), filepath.Base(file), secret); err != nil {
		return fmt.Errorf("writing secret %s: %w", path, err)
	}
	return nil
}

// mkdirs creates dir and its missing parents inside the store (0700),
// fsyncing the parent of each directory it creates.
func (s *Store) mkdirs(dir string) error {
	if dir == s.dir {
		return nil
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	if err := s.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return syncDir(filepath.Dir(dir))
}

// writeAtomic replaces dir/name with data: temporary file (O_EXCL, 0600),
// write, fsync, close, rename, fsync of dir.
func writeAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+tempMark+"tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

// removeSync removes file (missing is fine) and fsyncs its directory.
func removeSync(file string) error {
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(file))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// sweep removes temporary files left by writers that died, in the store
// root and under secrets/; the caller holds the lock, so no live writer owns one.
func (s *Store) sweep() error {
	top, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("reading store: %w", err)
	}
	for _, d := range top {
		if err := removeTemp(filepath.Join(s.dir, d.Name()), d); err != nil {
			return err
		}
	}
	err = filepath.WalkDir(filepath.Join(s.dir, secretsDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return removeTemp(p, d)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale temporary files: %w", err)
	}
	return nil
}

func removeTemp(p string, d fs.DirEntry) error {
	if d.IsDir() || !strings.Contains(d.Name(), tempMark) {
		return nil
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("removing stale temporary file: %w", err)
	}
	return nil
}
