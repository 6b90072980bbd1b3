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
	b := make([]byte, maxSecret+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) || n == 0 {
		clear(b)
		return nil, fmt.Errorf("reading secret %s: empty or unreadable: %w", file, err)
	}
	if n > maxSecret {
		clear(b)
		return nil, fmt.Errorf("secret %s larger than %d bytes", file, maxSecret)
	}
	return b[:n], nil
}
