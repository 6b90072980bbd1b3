package main

import (
	"fmt"
	"os"

	"github.com/cvminit/cvminit/agent/disk"
)

// maxPayloadFile bounds a payload file (a key of at most disk.MaxPayloadKey
// bytes in base64 and a few identifiers).
const maxPayloadFile = 8 << 10

// checkPayload runs the check with the key from a's payload and then the
// guest's identity check: the accepted image must be the disk the payload
// names.
func (a *diskArgs) checkPayload() (*diskVerdict, error) {
	raw, err := os.ReadFile(a.payload)
	if err != nil {
		return nil, fmt.Errorf("reading payload: %w", err)
	}
	defer clear(raw)
	if len(raw) > maxPayloadFile {
		return nil, fmt.Errorf("payload %s: larger than %d bytes", a.payload, maxPayloadFile)
	}
	p, err := disk.ParsePayload(raw)
	if err != nil {
		return nil, fmt.Errorf("payload %s: %w", a.payload, err)
	}
	defer p.Key.Wipe()
	v, m, err := a.inspect(p.Key)
	if err != nil || !v.Accepted {
		return v, err
	}
	if err := m.Match(p.LUKSUUID, p.HeaderSHA256); err != nil {
		return &diskVerdict{Image: a.image, Reason: oneLine(err)}, nil
	}
	if p.Verity != nil {
		v.Verity = p.Verity.RootHash
	}
	return v, nil
}
