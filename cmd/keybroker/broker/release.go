package broker

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// Release refusals.
var (
	// ErrUnknownResource is returned for a resource the store does not hold.
	ErrUnknownResource = errors.New("resource not in the store")
	// ErrResourceMeasurement is returned when the session's measurement is
	// allowed to attest (some resource allows it) but not by this resource.
	ErrResourceMeasurement = errors.New("measurement not allowed for this resource")
)

// release returns resource name sealed to key if the evidence res may have
// it: the store must hold it, and the measurement must be one the resource
// lists or one the policy allows for every resource.
func (b *Broker) release(name string, key kbs.JWK, res *evidence.Result) (*kbs.JWE, error) {
	idx, err := b.store.Index()
	if err != nil {
		return nil, err
	}
	if !idx.Has(name) {
		return nil, fmt.Errorf("%s: %w", name, ErrUnknownResource)
	}
	for _, list := range [][][]byte{idx.Measurements(name), b.policy.Load().global} {
		for _, m := range list {
			if bytes.Equal(m, res.Measurement) {
				return b.seal(name, key)
			}
		}
	}
	return nil, fmt.Errorf("%s, measurement %x: %w", name, []byte(res.Measurement), ErrResourceMeasurement)
}

// seal returns the secret name sealed (JWE) to key; the plaintext copy is
// zeroed before it returns.
func (b *Broker) seal(name string, key kbs.JWK) (*kbs.JWE, error) {
	secret, err := b.store.Secret(name)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	return kbs.Seal(key, secret)
}
