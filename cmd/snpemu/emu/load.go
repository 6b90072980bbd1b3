package emu

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/go-sev-guest/kds"
)

// Load reads the state made by Init and checks that it hangs together: the
// chain verifies, the VCEK key matches its certificate, and the VCEK's KDS
// extensions name the recorded product, CHIP_ID and TCB.
func Load(dir string) (*State, error) {
	var inf info
	b, err := os.ReadFile(filepath.Join(dir, InfoFile))
	if err != nil {
		return nil, fmt.Errorf("reading emulator state: %w", err)
	}
	if err := json.Unmarshal(b, &inf); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", InfoFile, err)
	}
	s := &State{Dir: dir, ProductLine: inf.ProductLine}
	if s.product, err = lookupProduct(inf.ProductLine); err != nil {
		return nil, err
	}
	if err := s.decodeInfo(inf); err != nil {
		return nil, err
	}
	if err := s.loadPEMs(dir); err != nil {
		return nil, err
	}
	if err := s.check(inf.ProductName); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return s, nil
}

func (s *State) decodeInfo(inf info) error {
	chip, err := hex.DecodeString(inf.ChipID)
	if err != nil || len(chip) != len(s.ChipID) {
		return fmt.Errorf("%w: chip_id %q", ErrBadState, inf.ChipID)
	}
	copy(s.ChipID[:], chip)
	tcb, err := strconv.ParseUint(inf.TCB, 0, 64)
	if err != nil {
		return fmt.Errorf("%w: tcb %q", ErrBadState, inf.TCB)
	}
	s.TCB = kds.TCBVersion(tcb)
	return nil
}

func (s *State) loadPEMs(dir string) error {
	var err error
	for _, c := range []struct {
		name string
		dst  **x509.Certificate
	}{{ARKFile, &s.ARK}, {ASKFile, &s.ASK}, {VCEKFile, &s.VCEK}} {
		if *c.dst, err = readCert(filepath.Join(dir, c.name)); err != nil {
			return err
		}
	}
	key, err := readKey(filepath.Join(dir, VCEKKeyFile))
	if err != nil {
		return err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("%w: %s is not an ECDSA key", ErrBadState, VCEKKeyFile)
	}
	s.vcekKey = ec
	return nil
}

// check cross-checks the loaded pieces.
func (s *State) check(productName string) error {
	if err := s.ASK.CheckSignatureFrom(s.ARK); err != nil {
		return fmt.Errorf("%w: ASK not signed by ARK: %w", ErrBadState, err)
	}
	if err := s.VCEK.CheckSignatureFrom(s.ASK); err != nil {
		return fmt.Errorf("%w: VCEK not signed by ASK: %w", ErrBadState, err)
	}
	if !s.vcekKey.PublicKey.Equal(s.VCEK.PublicKey) {
		return fmt.Errorf("%w: VCEK key does not match the VCEK certificate", ErrBadState)
	}
	ext, err := kds.VcekCertificateExtensions(s.VCEK)
	if err != nil {
		return fmt.Errorf("%w: VCEK extensions: %w", ErrBadState, err)
	}
	if !bytes.Equal(ext.HWID, s.ChipID[:]) || ext.TCBVersion != s.TCB || ext.ProductName != productName {
		return fmt.Errorf("%w: VCEK extensions (product %q, TCB %#x) disagree with %s", ErrBadState,
			ext.ProductName, uint64(ext.TCBVersion), InfoFile)
	}
	return nil
}

func readPEM(path, typ string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading emulator state: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("%w: %s holds no %s PEM block", ErrBadState, path, typ)
	}
	return blk.Bytes, nil
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %w", ErrBadState, path, err)
	}
	return c, nil
}

func readKey(path string) (any, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %w", ErrBadState, path, err)
	}
	return k, nil
}

// certPEM encodes certificates as consecutive PEM blocks.
func certPEM(certs ...*x509.Certificate) func() ([]byte, error) {
	return func() ([]byte, error) {
		var out []byte
		for _, c := range certs {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return out, nil
	}
}

func keyPEM(key any) func() ([]byte, error) {
	return func() ([]byte, error) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}
}
