package broker_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

// serverCert is a self-signed ECDSA P-256 certificate for 127.0.0.1, the kind
// `keybroker gen-cert` makes (httptest's default is RSA, which would make
// every TLS handshake cost several times more than in production).
func serverCert(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := newServerCert()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newServerCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, err
}

// writeCRL writes a CRL of the test chain's ARK, valid until nextUpdate,
// revoking the ASK if revokeASK, and returns its path.
func writeCRL(t testing.TB, nextUpdate time.Time, revokeASK bool) string {
	t.Helper()
	ark, arkKey := readPEM(t, emu.ARKFile), readPEM(t, emu.ARKKeyFile)
	cert, err := x509.ParseCertificate(ark)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(arkKey)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: nextUpdate}
	if revokeASK {
		ask, err := x509.ParseCertificate(readPEM(t, emu.ASKFile))
		if err != nil {
			t.Fatal(err)
		}
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: ask.SerialNumber, RevocationTime: time.Now()}}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, cert, key.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ark.crl")
	if err := os.WriteFile(path, der, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func readPEM(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chainDir, name))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", name)
	}
	return blk.Bytes
}
