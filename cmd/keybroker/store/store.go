// Package store is the key broker's durable resource store: the secrets the
// broker may release and, for each, the launch measurements allowed to receive
// it. The broker reads it on every request (Store.Index, Store.Secret); the
// "keybroker resource" and "keybroker measurement" commands write it.
//
// Layout under the store directory (mode 0700, no group or other access):
//
//	index.json                   0600  {"version":1,"resources":{"repo/type/tag":
//	                                    {"measurements":["<96 hex>",...],"updated":"<RFC 3339>"}}}
//	secrets/<repo>/<type>/<tag>  0600  the raw secret, 1 to MaxSecret bytes (directories 0700)
//	lock                         0600  flock(2)ed exclusively by every writer
//
// Every file is replaced atomically and durably: a temporary file (its name
// holds '~', which no resource path segment may) is created with O_EXCL in the
// same directory, written, fsynced and renamed over the target, then the
// directory is fsynced. Readers take no lock: they see the old or the new
// file, never a mix. A resource is reachable only through the index, so a new
// secret is written before the index names it and the index forgets a
// resource before its secret is deleted: a crash leaves at worst an
// unreachable secret file, which the next Add of that path overwrites.
// Temporary files left by a crashed writer are removed by the next writer.
//
// Written by hand: no well-kept library offers a small flock-guarded,
// fsync-correct file store.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MaxSecret bounds a secret; disk keys and small configs fit easily.
const MaxSecret = 64 << 10

const (
	indexName  = "index.json"
	secretsDir = "secrets"
	lockName   = "lock"
	tempMark   = "~"     // in every temporary file name, never in a resource path
	maxIndex   = 8 << 20 // bound on index.json
)

// Errors callers branch on; returned errors wrap them with the path involved.
var (
	ErrBadPath        = errors.New("bad resource path")
	ErrBadMeasurement = errors.New("bad measurement")
	ErrBadSecret      = errors.New("bad secret")
	ErrCorrupt        = errors.New("corrupt index")
	ErrNotFound       = errors.New("resource not in store")
	ErrExists         = errors.New("resource already in store")
	ErrAllowed        = errors.New("measurement already allowed")
	ErrNotAllowed     = errors.New("measurement not allowed")
	ErrInsecureDir    = errors.New("store directory allows group or other access")
)

// Store is an open store directory. It is safe for concurrent use by many
// goroutines, and several processes may write the same directory: writers
// serialize on the lock file.
type Store struct {
	dir string
	now func() time.Time // stamps Updated; time.Now outside tests

	mu     sync.Mutex // guards the cache below
	cached *Index
	info   fs.FileInfo // identity of the index.json cached was read from
	held   *os.File    // that file, kept open so its inode is not reused
}

// Open opens the store in dir, creating dir (0700) and an empty index if they
// are missing, and reads the index once so a corrupt store fails here. It
// refuses a directory with any group or other permission bits.
func Open(dir string) (*Store, error) {
	if err := makeRoot(dir); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, now: time.Now}
	if _, err := os.Lstat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
		err = s.locked(func() error { return s.createIndex() })
		if err != nil {
			return nil, err
		}
	}
	if _, err := s.Index(); err != nil {
		return nil, err
	}
	return s, nil
}

// makeRoot creates dir if missing and checks its type and mode.
func makeRoot(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating store: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("opening store: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("store %s: not a directory", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("store %s (mode %04o, want 0700): %w", dir, fi.Mode().Perm(), ErrInsecureDir)
	}
	return nil
}

// createIndex writes an empty index unless a concurrent Open already did.
func (s *Store) createIndex() error {
	if _, err := os.Lstat(s.indexPath()); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.writeIndex(&indexFile{Version: indexVersion, Resources: map[string]*entryJSON{}})
}

func (s *Store) indexPath() string { return filepath.Join(s.dir, indexName) }

// secretPath is where the secret of a validated path lives.
func (s *Store) secretPath(path string) string {
	return filepath.Join(s.dir, secretsDir, filepath.FromSlash(path))
}

// stamp is the Updated time of a change made now.
func (s *Store) stamp() time.Time { return s.now().UTC().Truncate(time.Second) }
