package tpm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// ErrNoTPM is returned by Open when no TPM device node exists.
var ErrNoTPM = errors.New("no TPM")

// Device is an open TPM: extend and read SHA-256 PCRs.
type Device interface {
	// Extend extends pcr's SHA-256 bank with digest (TPM2_PCR_Extend).
	Extend(pcr int, digest [32]byte) error
	// ReadPCR returns pcr's SHA-256 value (TPM2_PCR_Read).
	ReadPCR(pcr int) ([32]byte, error)
	// Close releases the TPM.
	Close() error
}

// FromTransport returns the Device speaking TPM 2.0 commands over t (a real
// device from Open, or swtpm over go-tpm's linuxudstpm in tests). Closing the
// Device closes t.
func FromTransport(t transport.TPMCloser) Device { return device{t: t} }

// device sends go-tpm's commands over a transport.
type device struct {
	t transport.TPMCloser
}

// Extend implements Device.
func (d device) Extend(pcr int, digest [32]byte) error {
	if err := checkPCR(pcr); err != nil {
		return fmt.Errorf("extending PCR: %w", err)
	}
	cmd := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{
			{HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:]},
		}},
	}
	if _, err := cmd.Execute(d.t); err != nil {
		return fmt.Errorf("extending PCR %d: %w", pcr, err)
	}
	return nil
}

// ReadPCR implements Device.
func (d device) ReadPCR(pcr int) ([32]byte, error) {
	var out [32]byte
	if err := checkPCR(pcr); err != nil {
		return out, fmt.Errorf("reading PCR: %w", err)
	}
	cmd := tpm2.PCRRead{PCRSelectionIn: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(pcr))},
	}}}
	rsp, err := cmd.Execute(d.t)
	if err != nil {
		return out, fmt.Errorf("reading PCR %d: %w", pcr, err)
	}
	// A TPM without an allocated sha256 bank answers with no value.
	if v := rsp.PCRValues.Digests; len(v) != 1 || len(v[0].Buffer) != len(out) {
		return out, fmt.Errorf("reading PCR %d: TPM returned no sha256 value (bank not allocated?)", pcr)
	}
	copy(out[:], rsp.PCRValues.Digests[0].Buffer)
	return out, nil
}

// Close implements Device.
func (d device) Close() error {
	if err := d.t.Close(); err != nil {
		return fmt.Errorf("closing TPM: %w", err)
	}
	return nil
}

func checkPCR(pcr int) error {
	if pcr < 0 || pcr > maxPCR {
		return fmt.Errorf("PCR %d outside 0-%d", pcr, maxPCR)
	}
	return nil
}
