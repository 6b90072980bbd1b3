package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

const indexVersion = 1

// indexFile is index.json as stored.
type indexFile struct {
	Version   int                   `json:"version"`
	Resources map[string]*entryJSON `json:"resources"`
}

type entryJSON struct {
	Measurements []string  `json:"measurements"`
	Updated      time.Time `json:"updated"`
}

// Resource describes one stored resource. It never carries the secret.
type Resource struct {
	Path         string    // repository/type/tag
	Measurements []string  // allowed launch measurements, lower-case hex
	Updated      time.Time // last add, rotate, allow or revoke
}

// Index is a parsed, validated index.json. It is immutable and may be shared.
type Index struct {
	res map[string]indexEntry
}

type indexEntry struct {
	Resource
	raw [][]byte // Measurements decoded
}

// Has reports whether the store holds a resource at path.
func (x *Index) Has(path string) bool {
	_, ok := x.res[path]
	return ok
}

// Measurements returns fresh copies of the measurements allowed to receive
// the resource at path; nil if it has none or does not exist.
func (x *Index) Measurements(path string) [][]byte {
	var out [][]byte
	for _, m := range x.res[path].raw {
		out = append(out, bytes.Clone(m))
	}
	return out
}

// AllMeasurements returns fresh copies of every measurement allowed for any
// resource, without duplicates, in a stable order.
func (x *Index) AllMeasurements() [][]byte {
	var out [][]byte
	seen := map[string]bool{}
	for _, r := range x.Resources() {
		for i, m := range r.Measurements {
			if !seen[m] {
				seen[m] = true
				out = append(out, bytes.Clone(x.res[r.Path].raw[i]))
			}
		}
	}
	return out
}

// Resources lists the resources sorted by path.
func (x *Index) Resources() []Resource {
	out := make([]Resource, 0, len(x.res))
	for _, e := range x.res {
		r := e.Resource
		r.Measurements = slices.Clone(r.Measurements)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// newIndex builds the shared form of a validated index file.
func newIndex(f *indexFile) *Index {
	x := &Index{res: make(map[string]indexEntry, len(f.Resources))}
	for path, e := range f.Resources {
		ie := indexEntry{Resource: Resource{Path: path, Measurements: slices.Clone(e.Measurements), Updated: e.Updated}}
		for _, m := range e.Measurements {
			b, _ := hex.DecodeString(m) // validated by decodeIndex
			ie.raw = append(ie.raw, b)
		}
		x.res[path] = ie
	}
	return x
}

// decodeIndex parses index.json strictly: unknown members, trailing data,
// another version, bad paths or measurements are all errors.
func decodeIndex(raw []byte) (*indexFile, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f indexFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the index object", ErrCorrupt)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &f, nil
}

func (f *indexFile) validate() error {
	if f.Version != indexVersion {
		return fmt.Errorf("version %d, want %d", f.Version, indexVersion)
	}
	if f.Resources == nil {
		return errors.New("no resources member")
	}
	var errs []error
	for path, e := range f.Resources {
		errs = append(errs, validateEntry(path, e))
	}
	return errors.Join(errs...)
}

func validateEntry(path string, e *entryJSON) error {
	if err := ValidatePath(path); err != nil {
		return err
	}
	if e == nil || e.Updated.IsZero() {
		return fmt.Errorf("%s: missing updated time", path)
	}
	ms, err := normalizeAll(e.Measurements)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !slices.Equal(ms, e.Measurements) {
		return fmt.Errorf("%s: %w: upper-case hex", path, ErrBadMeasurement)
	}
	return nil
}

// encode renders the index as stored.
func (f *indexFile) encode() ([]byte, error) {
	for _, e := range f.Resources {
		if e.Measurements == nil {
			e.Measurements = []string{}
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding index: %w", err)
	}
	return append(b, '\n'), nil
}
