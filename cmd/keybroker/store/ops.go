package store

import (
	"fmt"
	"slices"
)

// Add stores a new resource: its secret (1 to MaxSecret bytes, not retained)
// and the measurements allowed to receive it (96 hex digits each, no
// duplicates; none means no guest may receive it unless the broker's policy
// allows a measurement for every resource). It fails with ErrExists if the
// index already holds path; a secret file the index does not name (left by
// an interrupted Add or Remove) is overwritten.
func (s *Store) Add(path string, secret []byte, measurements []string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if err := checkSecret(secret); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	ms, err := normalizeAll(measurements)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return s.modify(func(f *indexFile) error {
		if _, ok := f.Resources[path]; ok {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		if err := s.writeSecret(path, secret); err != nil {
			return err
		}
		f.Resources[path] = &entryJSON{Measurements: ms, Updated: s.stamp()}
		return nil
	})
}

// Rotate replaces the secret of an existing resource, keeping its measurements.
func (s *Store) Rotate(path string, secret []byte) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if err := checkSecret(secret); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return s.modify(func(f *indexFile) error {
		e, err := lookup(f, path)
		if err != nil {
			return err
		}
		if err := s.writeSecret(path, secret); err != nil {
			return err
		}
		e.Updated = s.stamp()
		return nil
	})
}

// Remove deletes a resource: first from the index, so it can no longer be
// released, then its secret file. A crash in between leaves only an
// unreachable file.
func (s *Store) Remove(path string) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	return s.locked(func() error {
		f, err := s.readIndex()
		if err != nil {
			return err
		}
		if _, err := lookup(f, path); err != nil {
			return err
		}
		delete(f.Resources, path)
		if err := s.writeIndex(f); err != nil {
			return err
		}
		if err := removeSync(s.secretPath(path)); err != nil {
			return fmt.Errorf("removing secret of %s: %w", path, err)
		}
		return nil
	})
}

// Allow adds measurement (96 hex digits, any case; stored in lower case) to
// those allowed to receive the resource at path. Allowing a measurement that
// is already allowed is an error (ErrAllowed), not a silent success, so a
// script learns that its view of the store was stale.
func (s *Store) Allow(path, measurement string) error {
	return s.editMeasurements(path, measurement, func(list []string, m string) ([]string, error) {
		if slices.Contains(list, m) {
			return nil, ErrAllowed
		}
		return append(list, m), nil
	})
}

// Revoke removes measurement from those allowed to receive the resource at
// path. Revoking a measurement that is not allowed is an error
// (ErrNotAllowed): a mistyped revocation must never look like it worked.
func (s *Store) Revoke(path, measurement string) error {
	return s.editMeasurements(path, measurement, func(list []string, m string) ([]string, error) {
		i := slices.Index(list, m)
		if i < 0 {
			return nil, ErrNotAllowed
		}
		return slices.Delete(list, i, i+1), nil
	})
}

// editMeasurements replaces the measurement list of the resource at path
// with what edit makes of it and of the normalized measurement.
func (s *Store) editMeasurements(path, measurement string, edit func(list []string, m string) ([]string, error)) error {
	m, err := checkArgs(path, measurement)
	if err != nil {
		return err
	}
	return s.modify(func(f *indexFile) error {
		e, err := lookup(f, path)
		if err != nil {
			return err
		}
		list, err := edit(e.Measurements, m)
		if err != nil {
			return fmt.Errorf("%s, %s: %w", path, m, err)
		}
		e.Measurements, e.Updated = list, s.stamp()
		return nil
	})
}

// List returns every resource sorted by path, without secrets.
func (s *Store) List() ([]Resource, error) {
	x, err := s.Index()
	if err != nil {
		return nil, err
	}
	return x.Resources(), nil
}

func checkArgs(path, measurement string) (string, error) {
	if err := ValidatePath(path); err != nil {
		return "", err
	}
	m, err := NormalizeMeasurement(measurement)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func lookup(f *indexFile, path string) (*entryJSON, error) {
	e, ok := f.Resources[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	return e, nil
}
