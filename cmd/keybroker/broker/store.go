package broker

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cvminit/cvminit/agent/kbs"
)

// ErrUnknownResource is returned for a resource the policy does not list.
var ErrUnknownResource = errors.New("resource not in policy")

// maxSecret bounds a secret file; disk keys and small configs fit easily.
const maxSecret = 64 << 10

// store reads secrets from the files the policy names. It reads them on every
// release so a rotated file takes effect without a restart, and zeroes its copy.
type store struct {
	files map[string]string
}

// seal returns the secret name sealed (JWE) to key.
func (s *store) seal(name string, key kbs.JWK) (*kbs.JWE, error) {
	file, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrUnknownResource)
	}
	b, err := readSecret(file)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return kbs.Seal(key, b)
}

func readSecret(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading secret: %w", err)
	}
	defer f.Close()
	hint := maxSecret
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() < maxSecret {
		hint = int(fi.Size())
	}
	b, err := readBounded(f, hint)
	if err != nil {
		return nil, fmt.Errorf("reading secret %s: %w", file, err)
	}
	return b, nil
}

// readBounded reads all of r, which should hold hint bytes, into one buffer
// of hint+1 bytes (a full buffer means r held more) and, only if r did hold
// more, into one of maxSecret+1 bytes. No copy of the data is left behind.
func readBounded(r io.Reader, hint int) ([]byte, error) {
	b := make([]byte, hint+1)
	n, err := io.ReadFull(r, b)
	if n == len(b) && n <= maxSecret { // grew since it was measured
		big := make([]byte, maxSecret+1)
		copy(big, b)
		clear(b)
		var m int
		m, err = io.ReadFull(r, big[n:])
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		b, n = big, n+m
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || n == 0 {
		clear(b)
		return nil, fmt.Errorf("empty or unreadable: %w", err)
	}
	if n > maxSecret {
		clear(b)
		return nil, fmt.Errorf("larger than %d bytes", maxSecret)
	}
	return b[:n], nil
}
