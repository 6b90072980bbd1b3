package emu

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
)

// Files in a state directory.
const (
	ARKFile       = "ark.pem"        // ARK certificate
	ASKFile       = "ask.pem"        // ASK certificate
	VCEKFile      = "vcek.pem"       // VCEK certificate
	CertChainFile = "cert_chain.pem" // ASK then ARK, the format of AMD KDS's cert_chain (for a broker's trusted roots)
	ARKKeyFile    = "ark-key.pem"    // PKCS #8, mode 0600
	ASKKeyFile    = "ask-key.pem"    // PKCS #8, mode 0600
	VCEKKeyFile   = "vcek-key.pem"   // PKCS #8, mode 0600
	InfoFile      = "state.json"     // product, CHIP_ID, TCB
)

// Errors callers branch on.
var (
	ErrStateExists    = errors.New("emulator state already exists (use --force to replace it)")
	ErrUnknownProduct = errors.New("unknown AMD product line")
	ErrBadState       = errors.New("emulator state is inconsistent")
)

// State is a loaded emulated security processor: its certificate chain, VCEK
// key, CHIP_ID and TCB.
type State struct {
	Dir         string
	ProductLine string // Milan, Genoa or Turin
	ChipID      [abi.ChipIDSize]byte
	TCB         kds.TCBVersion
	ARK, ASK    *x509.Certificate
	VCEK        *x509.Certificate
	vcekKey     *ecdsa.PrivateKey
	product     product
}

// info is state.json.
type info struct {
	Version     int       `json:"version"`
	ProductLine string    `json:"product_line"`
	ProductName string    `json:"product_name"`
	ChipID      string    `json:"chip_id"`
	TCB         string    `json:"tcb"`
	Created     time.Time `json:"created"`
}

// InitOptions tune InitWith. The zero value of each field is the production default.
type InitOptions struct {
	Product string // "" means Milan
	Force   bool   // replace an existing state
	RSABits int    // ARK/ASK key size; 0 means 4096 as AMD uses (tests may use 2048 for speed)
}

// Init creates a new emulated chain for product in dir, refusing to replace an
// existing one.
func Init(dir, product string) error {
	return InitWith(dir, InitOptions{Product: product})
}

// InitWith creates a new emulated chain in dir.
func InitWith(dir string, o InitOptions) error {
	p, err := lookupProduct(orDefault(o.Product, "Milan"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); err == nil && !o.Force {
		return fmt.Errorf("%s: %w", dir, ErrStateExists)
	}
	bits := o.RSABits
	if bits == 0 {
		bits = 4096
	}
	now := time.Now()
	c, err := mintChain(p, bits, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	return writeChain(dir, c, now)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeChain(dir string, c *chain, now time.Time) error {
	files := []struct {
		name string
		pem  func() ([]byte, error)
		mode os.FileMode
	}{
		{ARKFile, certPEM(c.ark), 0o644},
		{ASKFile, certPEM(c.ask), 0o644},
		{VCEKFile, certPEM(c.vcek), 0o644},
		{CertChainFile, certPEM(c.ask, c.ark), 0o644},
		{ARKKeyFile, keyPEM(c.arkKey), 0o600},
		{ASKKeyFile, keyPEM(c.askKey), 0o600},
		{VCEKKeyFile, keyPEM(c.vcekKey), 0o600},
		{InfoFile, infoJSON(c, now), 0o644},
	}
	for _, f := range files {
		b, err := f.pem()
		if err != nil {
			return fmt.Errorf("encoding %s: %w", f.name, err)
		}
		if err := writeFile(filepath.Join(dir, f.name), b, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces path atomically with the given mode.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil { // WriteFile keeps an old file's mode
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("installing %s: %w", path, err)
	}
	return nil
}

func infoJSON(c *chain, now time.Time) func() ([]byte, error) {
	return func() ([]byte, error) {
		return json.MarshalIndent(info{
			Version:     1,
			ProductLine: c.productLine,
			ProductName: c.vcekPrName,
			ChipID:      hex.EncodeToString(c.chipID[:]),
			TCB:         fmt.Sprintf("%#016x", uint64(c.tcb)),
			Created:     now.UTC().Truncate(time.Second),
		}, "", "  ")
	}
}

// TrustedRoots returns the emulated ARK/ASK in the form go-sev-guest's
// verify.Options.TrustedRoots takes. A verifier trusting only these accepts the
// emulator's reports; one trusting AMD's roots rejects them.
func (s *State) TrustedRoots() map[string][]*trust.AMDRootCerts {
	r := trust.AMDRootCertsProduct(s.ProductLine)
	r.ProductCerts = &trust.ProductCerts{Ark: s.ARK, Ask: s.ASK}
	return map[string][]*trust.AMDRootCerts{s.ProductLine: {r}}
}
