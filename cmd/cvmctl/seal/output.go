package seal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// stage builds every output next to its final name and renames it into
// place only at the end (commit); abort removes all of it. The work
// directory next to the image holds the image and the extracted tree.
type stage struct {
	work    string
	pending [][2]string // temp, final; renamed in this order
}

func newStage(output string) (*stage, error) {
	work, err := os.MkdirTemp(filepath.Dir(output), ".cvmctl-seal-")
	if err != nil {
		return nil, fmt.Errorf("creating the work directory next to %s: %w", output, err)
	}
	return &stage{work: work}, nil
}

// file writes data with perm to a temporary file next to final.
func (s *stage) file(final string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".tmp-")
	if err != nil {
		return err
	}
	s.pending = append(s.pending, [2]string{f.Name(), final})
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// image adds the finished image in the work directory, synced to disk.
func (s *stage) image(tmp, final string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = errors.Join(f.Chmod(0o644), f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("syncing the image: %w", err)
	}
	s.pending = append(s.pending, [2]string{tmp, final})
	return nil
}

// commit renames everything into place (the image last) and removes the
// work directory. If a rename fails, what was already renamed is removed.
func (s *stage) commit() error {
	for i, p := range s.pending {
		if err := os.Rename(p[0], p[1]); err != nil {
			for _, q := range s.pending[:i] {
				_ = os.Remove(q[1])
			}
			return fmt.Errorf("moving %s into place: %w", p[1], err)
		}
		syncDir(filepath.Dir(p[1]))
	}
	s.pending = nil
	return os.RemoveAll(s.work)
}

// abort removes every temporary file and the work directory.
func (s *stage) abort() {
	for _, p := range s.pending {
		_ = os.Remove(p[0])
	}
	_ = os.RemoveAll(s.work)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// writeStore puts payload into the broker store at o.Resource with
// o.Measurements allowed. An existing resource (only with Force) gets the
// new secret and the measurements it lacks; it keeps the ones it has.
func writeStore(o *Options, payload []byte) (rotated bool, err error) {
	s, err := store.Open(o.Store)
	if err != nil {
		return false, fmt.Errorf("opening broker store: %w", err)
	}
	defer s.Close()
	x, err := s.Index()
	if err != nil {
		return false, fmt.Errorf("reading broker store: %w", err)
	}
	if !x.Has(o.Resource) {
		return false, s.Add(o.Resource, payload, o.Measurements)
	}
	if !o.Force {
		return false, fmt.Errorf("%w: resource %s in store %s (use --force to rotate it)", ErrExists, o.Resource, o.Store)
	}
	if err := s.Rotate(o.Resource, payload); err != nil {
		return false, err
	}
	for _, m := range o.Measurements {
		if err := s.Allow(o.Resource, m); err != nil && !errors.Is(err, store.ErrAllowed) {
			return true, err
		}
	}
	return true, nil
}

// toQCOW2 converts the raw image to qcow2 next to it and removes the raw one.
func toQCOW2(ctx context.Context, qemuImg, raw string) (string, error) {
	out := raw + ".qcow2"
	if _, err := run(ctx, qemuImg, nil, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, out); err != nil {
		return "", fmt.Errorf("converting to qcow2: %w", err)
	}
	return out, os.Remove(raw)
}
