package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// testCAPEM returns a freshly made self-signed CA certificate in PEM form.
func testCAPEM(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test broker CA"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(1<<32, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// minimalYAML is the smallest valid operator config: everything else
// takes its documented default.
func minimalYAML(t testing.TB) string {
	return "version: 1\n" +
		"broker:\n  url: https://10.0.2.2:8443\n  ca_pem: |\n" + indent(testCAPEM(t), "    ") +
		"disk:\n  luks_uuid: 0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b\n"
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return pre + strings.Join(lines, pre) + "\n"
}

// validConfig returns a complete, valid Config built by hand.
func validConfig(t testing.TB) *Config {
	return &Config{
		Version:     1,
		Attestation: Attestation{Provider: "emulated", EmulatorPort: "cvminit.snp"},
		TPM:         TPM{Mode: "auto"},
		Broker: Broker{URL: "https://10.0.2.2:8443", CAPEM: testCAPEM(t), Resource: "default/disk/root",
			Attempts: 3, Timeout: Duration(30 * time.Second)},
		Network: Network{Mode: "static", Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2",
			DNS: []string{"10.0.2.3"}},
		Disk: Disk{LUKSUUID: "0b9f1c2e-4a5d-4e6f-8a7b-9c0d1e2f3a4b", Name: "root", FSType: "ext4", Options: "ro",
			Integrity: "verity"},
		Modules: []string{"/lib/modules/6.1.0/kernel/drivers/virtio/virtio_pci.ko"},
		Boot: Boot{Deadline: Duration(90 * time.Second), OnFailure: "poweroff", FailureDelay: Duration(time.Second),
			Init: "/sbin/init", MinMemoryMiB: 128},
		Log: Log{Level: "info"},
	}
}
