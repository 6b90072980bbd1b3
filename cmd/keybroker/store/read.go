package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Index returns the current index. The broker calls it on every request: the
// parsed index is cached and index.json is read again only when its identity
// (device and inode, size, modification time) changes, so a change made by
// the admin commands takes effect at the next request without a restart.
// The cache keeps the index file it read open, so its inode cannot be reused
// by a later index.json and every atomic replacement changes the identity.
func (s *Store) Index() (*Index, error) {
	fi, err := os.Stat(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", s.indexPath(), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil && sameFile(s.info, fi) {
		return s.cached, nil
	}
	f, err := openNoFollow(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", s.indexPath(), err)
	}
	x, info, err := s.loadIndex(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if s.held != nil {
		s.held.Close()
	}
	s.held, s.cached, s.info = f, newIndex(x), info
	return s.cached, nil
}

// Close releases the index file the cache holds open. The Store must not be
// used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cached, s.info = nil, nil
	if s.held == nil {
		return nil
	}
	err := s.held.Close()
	s.held = nil
	return err
}

func sameFile(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// readIndex reads and validates index.json.
func (s *Store) readIndex() (*indexFile, error) {
	f, err := openNoFollow(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", s.indexPath(), err)
	}
	defer f.Close()
	x, _, err := s.loadIndex(f)
	return x, err
}

// loadIndex reads and validates the open index.json f, returning the
// identity of the file it actually read. Errors name the file.
func (s *Store) loadIndex(f *os.File) (*indexFile, fs.FileInfo, error) {
	raw, info, err := readBounded(f, maxIndex)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s: %w", s.indexPath(), err)
	}
	x, err := decodeIndex(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("index %s: %w", s.indexPath(), err)
	}
	return x, info, nil
}

// Secret returns a fresh copy of the secret at path, which the caller must
// zero after use. Only resources in the index are readable.
func (s *Store) Secret(path string) ([]byte, error) {
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	x, err := s.Index()
	if err != nil {
		return nil, err
	}
	if !x.Has(path) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	f, err := openNoFollow(s.secretPath(path))
	if err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", path, err)
	}
	defer f.Close()
	b, _, err := readBounded(f, MaxSecret)
	if err == nil {
		err = checkSecret(b)
	}
	if err != nil {
		clear(b)
		return nil, fmt.Errorf("reading secret %s: %w", path, err)
	}
	return b, nil
}

// readBounded reads all of regular file f into one buffer sized from its
// length (plus one byte, to notice growth) and, only if f did grow, into one
// of limit+1 bytes; the first is zeroed before it is dropped. More than limit
// bytes is an error. It also returns f's identity as of the read.
func readBounded(f *os.File, limit int) ([]byte, fs.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, errors.New("not a regular file")
	}
	b := make([]byte, min(fi.Size(), int64(limit))+1)
	n, err := io.ReadFull(f, b)
	if n == len(b) && n <= limit { // grew since it was measured
		big := make([]byte, limit+1)
		copy(big, b)
		clear(b)
		var m int
		m, err = io.ReadFull(f, big[n:])
		b, n = big, n+m
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		clear(b)
		return nil, nil, err
	}
	if n > limit {
		clear(b)
		return nil, nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b[:n], fi, nil
}
