package emu

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/verify/trust"
)

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	if err := InitWith(dir, InitOptions{Product: "Genoa", RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	first, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.ChipID != second.ChipID || first.TCB != second.TCB || !first.VCEK.Equal(second.VCEK) ||
		first.ProductLine != "Genoa" || second.ProductLine != "Genoa" {
		t.Fatal("state differs between loads")
	}
	// A report made after reloading verifies against the roots of the first load.
	report, table, err := newServer(t, second, Config{}).Report(reportData(3), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyWith(first, attestation(t, report, table)); err != nil {
		t.Fatalf("verify across reload: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, VCEKKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("VCEK key mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := InitWith(dir, InitOptions{RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	before, _ := Load(dir)
	if err := InitWith(dir, InitOptions{RSABits: 2048}); !errors.Is(err, ErrStateExists) {
		t.Fatalf("second init: err = %v, want ErrStateExists", err)
	}
	if err := InitWith(dir, InitOptions{RSABits: 2048, Force: true}); err != nil {
		t.Fatalf("forced init: %v", err)
	}
	after, err := Load(dir)
	if err != nil || after.ChipID == before.ChipID {
		t.Fatalf("forced init did not make a new chip (err %v)", err)
	}
}

func TestInitDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, ""); err != nil {
		t.Fatal(err)
	}
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.ProductLine != "Milan" {
		t.Errorf("default product %q, want Milan", st.ProductLine)
	}
	for name, c := range map[string]*rsa.PublicKey{"ARK": st.ARK.PublicKey.(*rsa.PublicKey), "ASK": st.ASK.PublicKey.(*rsa.PublicKey)} {
		if c.N.BitLen() != 4096 {
			t.Errorf("%s key is %d bits, want 4096", name, c.N.BitLen())
		}
	}
	// cert_chain.pem is in AMD KDS's format: go-sev-guest's parser reads it.
	chain, err := os.ReadFile(filepath.Join(dir, CertChainFile))
	if err != nil {
		t.Fatal(err)
	}
	var roots trust.AMDRootCerts
	if err := roots.FromKDSCertBytes(chain); err != nil {
		t.Fatal(err)
	}
	if !roots.ProductCerts.Ark.Equal(st.ARK) || !roots.ProductCerts.Ask.Equal(st.ASK) {
		t.Fatal("cert_chain.pem does not hold ASK and ARK")
	}
	if err := Init(t.TempDir(), "Rome"); !errors.Is(err, ErrUnknownProduct) {
		t.Fatalf("Init(Rome): err = %v, want ErrUnknownProduct", err)
	}
}

func TestLoadRejectsTampering(t *testing.T) {
	src := t.TempDir()
	if err := InitWith(src, InitOptions{RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := InitWith(other, InitOptions{RSABits: 2048}); err != nil {
		t.Fatal(err)
	}
	tamper := map[string]func(dir string){
		"chip id": func(dir string) { edit(t, dir, InfoFile, `"chip_id": "`, `"chip_id": "00`, 2) },
		"tcb":     func(dir string) { edit(t, dir, InfoFile, `"tcb": "0x`, `"tcb": "0x1`, 1) },
		"vcek key from another chip": func(dir string) {
			copyFile(t, filepath.Join(other, VCEKKeyFile), filepath.Join(dir, VCEKKeyFile))
		},
		"ask from another chain": func(dir string) {
			copyFile(t, filepath.Join(other, ASKFile), filepath.Join(dir, ASKFile))
		},
		"missing vcek": func(dir string) { os.Remove(filepath.Join(dir, VCEKFile)) },
	}
	for name, f := range tamper {
		dir := t.TempDir()
		for _, n := range []string{ARKFile, ASKFile, VCEKFile, VCEKKeyFile, InfoFile} {
			copyFile(t, filepath.Join(src, n), filepath.Join(dir, n))
		}
		f(dir)
		if _, err := Load(dir); err == nil {
			t.Errorf("%s: Load accepted a tampered state", name)
		}
	}
}

// edit replaces old with new in a state file, dropping cut characters after it
// so lengths stay plausible.
func edit(t *testing.T, dir, name, old, new string, cut int) {
	p := filepath.Join(dir, name)
	b, _ := os.ReadFile(p)
	i := bytes.Index(b, []byte(old))
	if i < 0 {
		t.Fatalf("%s has no %q", name, old)
	}
	s := string(b[:i]) + new + string(b[i+len(old)+cut:])
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil || !strings.Contains(s, new) {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
