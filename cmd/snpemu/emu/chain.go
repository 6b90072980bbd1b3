package emu

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	sevtest "github.com/google/go-sev-guest/testing"
)

// chain is a freshly minted emulated AMD key hierarchy.
type chain struct {
	ark, ask, vcek          *x509.Certificate
	arkKey, askKey          *rsa.PrivateKey
	vcekKey                 *ecdsa.PrivateKey
	chipID                  [abi.ChipIDSize]byte
	tcb                     kds.TCBVersion
	productLine, vcekPrName string
}

// mintChain makes ARK -> ASK -> VCEK with go-sev-guest's AmdSignerBuilder and
// fresh keys. The VCEK carries the KDS extensions: product name, every SPL equal
// to the TCB the reports will claim, and HWID = CHIP_ID.
func mintChain(p product, rsaBits int, now time.Time) (*chain, error) {
	c := &chain{productLine: p.line, vcekPrName: p.name}
	var err error
	if c.arkKey, err = rsa.GenerateKey(rand.Reader, rsaBits); err != nil {
		return nil, fmt.Errorf("generating ARK key: %w", err)
	}
	if c.askKey, err = rsa.GenerateKey(rand.Reader, rsaBits); err != nil {
		return nil, fmt.Errorf("generating ASK key: %w", err)
	}
	if c.vcekKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, fmt.Errorf("generating VCEK key: %w", err)
	}
	if _, err := rand.Read(c.chipID[:]); err != nil {
		return nil, fmt.Errorf("generating CHIP_ID: %w", err)
	}
	if c.tcb, err = kds.ComposeTCBParts(p.tcb); err != nil {
		return nil, fmt.Errorf("composing TCB: %w", err)
	}
	return c, c.certify(p, now)
}

func (c *chain) certify(p product, now time.Time) error {
	// The builder insists on an ASVK key; the emulator signs with the VCEK only,
	// so the ASK key stands in and the ASVK certificate is never written out.
	keys := &sevtest.AmdKeys{Ark: c.arkKey, Ask: c.askKey, Asvk: c.askKey, Vcek: c.vcekKey}
	start := now.Add(-time.Hour) // tolerate small clock differences with the verifier
	b := &sevtest.AmdSignerBuilder{
		Keys:             keys,
		ProductName:      p.name,
		ArkCreationTime:  start,
		AskCreationTime:  start,
		AsvkCreationTime: start,
		VcekCreationTime: start,
		HWID:             c.chipID,
		TCB:              c.tcb,
		VcekCustom: sevtest.CertOverride{
			Extensions: sevtest.CustomExtensions(p.tcb, c.chipID[:], "", p.name),
		},
	}
	signer, err := b.TestOnlyCertChain()
	if err != nil {
		return fmt.Errorf("certifying the emulated AMD chain: %w", err)
	}
	c.ark, c.ask, c.vcek = signer.Ark, signer.Ask, signer.Vcek
	return nil
}
