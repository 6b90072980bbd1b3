package main

// PKI commands. gen-ca makes a CA the operator owns; guests pin its
// certificate (broker.ca_pem) in their measured config. gen-cert issues the
// server certificate serve loads, so it can be renewed or re-issued for new
// addresses without rebuilding guest images. Keys are ECDSA P-256: TLS 1.3
// makes ecdsa_secp256r1_sha256 mandatory (RFC 8446 section 9.1), the guest's
// Go crypto/tls verifies it in constant-time assembly, and the demo chain uses
// it; P-384 would only add bytes and time to the boot.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PKI file names, shared by gen-ca, gen-cert and serve.
const (
	caCertFile  = "ca.pem"
	caKeyFile   = "ca-key.pem"
	srvCertFile = "server.pem"
	srvKeyFile  = "server-key.pem"
	maxDays     = 100 * 366                                                         // keeps NotAfter well inside what X.509 can encode
	backdate    = time.Hour                                                         // NotBefore slack for clocks running slightly behind
	ldh         = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-" // host name letters
)

// genCA writes a new broker CA: DIR/ca.pem for guests to pin and
// DIR/ca-key.pem (mode 0600) for gen-cert.
func genCA(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("gen-ca", stderr)
	dir := fl.String("dir", "", "output directory, required (created 0700)")
	name := fl.String("name", "cvminit keybroker CA", "CA subject common name")
	days := fl.Int("days", 3650, "validity in days")
	force := fl.Bool("force", false, "overwrite existing files")
	if err := parse(fl, args); err != nil {
		return err
	}
	if *dir == "" || strings.TrimSpace(*name) == "" {
		return fmt.Errorf("%w: gen-ca needs --dir and a non-empty --name", errUsage)
	}
	if err := checkDays(*days); err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile)
	if err := checkFree(*force, certPath, keyPath); err != nil {
		return err
	}
	err := issue(certPath, keyPath, func(key *ecdsa.PrivateKey) ([]byte, error) {
		return createCA(strings.TrimSpace(*name), *days, key, time.Now())
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (pin this in the guest config as broker.ca_pem) and %s (keep secret; gen-cert needs it)\n",
		certPath, keyPath)
	return nil
}

// genCert issues DIR2/server.pem and DIR2/server-key.pem (mode 0600) from
// the CA in --ca-dir, valid for the given IP addresses and DNS names.
func genCert(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("gen-cert", stderr)
	caDir := fl.String("ca-dir", "", "directory with ca.pem and ca-key.pem from gen-ca, required")
	out := fl.String("out", "", "output directory for server.pem and server-key.pem, required")
	hosts := fl.String("hosts", "", "comma-separated IPs and DNS names the broker answers as, required")
	days := fl.Int("days", 365, "validity in days (must end before the CA expires)")
	force := fl.Bool("force", false, "overwrite existing files")
	if err := parse(fl, args); err != nil {
		return err
	}
	if *caDir == "" || *out == "" || *hosts == "" {
		return fmt.Errorf("%w: gen-cert needs --ca-dir, --out and --hosts", errUsage)
	}
	if err := checkDays(*days); err != nil {
		return err
	}
	tmpl, err := leafTemplate(*hosts, *days, time.Now())
	if err != nil {
		return err
	}
	certPath, keyPath := filepath.Join(*out, srvCertFile), filepath.Join(*out, srvKeyFile)
	if err := checkFree(*force, certPath, keyPath); err != nil {
		return err
	}
	ca, caKey, err := loadCA(*caDir)
	if err == nil {
		err = checkWithin(tmpl, ca)
	}
	if err != nil {
		return err
	}
	err = issue(certPath, keyPath, func(key *ecdsa.PrivateKey) ([]byte, error) {
		return sign(tmpl, ca, &key.PublicKey, caKey)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s for %s; serve --tls-dir %s; guests pin %s\n",
		certPath, keyPath, *hosts, *out, filepath.Join(*caDir, caCertFile))
	return nil
}

func checkDays(days int) error {
	if days <= 0 || days > maxDays {
		return fmt.Errorf("%w: --days must be between 1 and %d, got %d", errUsage, maxDays, days)
	}
	return nil
}

// checkFree refuses to touch existing files unless force is set.
func checkFree(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s already exists (use --force to replace it)", p)
		}
	}
	return nil
}

// leafTemplate returns a server certificate template valid from now for
// days, for the comma-separated IP addresses and DNS names in hosts.
func leafTemplate(hosts string, days int, now time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "cvminit keybroker"},
		NotBefore: now.Add(-backdate), NotAfter: now.AddDate(0, 0, days), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if validDNSName(h) {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
		} else {
			return nil, fmt.Errorf("%w: --hosts entry %q is neither an IP address nor a DNS name", errUsage, h)
		}
	}
	return tmpl, nil
}

// validDNSName accepts RFC 1123 host names, optionally with a leading "*."
// wildcard label. An all-numeric last label is refused: it is almost always a
// mistyped IP address ("10.0.2.256").
func validDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		if strings.Trim(l, ldh) != "" {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}

// createCA returns the DER of a self-signed CA certificate that may sign only
// leaf certificates.
func createCA(name string, days int, key *ecdsa.PrivateKey, now time.Time) ([]byte, error) {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-backdate), NotAfter: now.AddDate(0, 0, days),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	return sign(tmpl, tmpl, &key.PublicKey, key)
}

// checkWithin refuses a leaf that would outlast its CA: clients would reject
// the chain from then on, with no hint in the leaf itself.
func checkWithin(leaf, ca *x509.Certificate) error {
	if leaf.NotAfter.After(ca.NotAfter) {
		return fmt.Errorf("server certificate would expire %s, after the CA (%s); lower --days or renew the CA",
			leaf.NotAfter.UTC().Format(time.DateOnly), ca.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}

// sign gives tmpl a random serial in [1, 2^127) and has parent's key certify pub.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) ([]byte, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 127)
	sn, err := rand.Int(rand.Reader, limit.Sub(limit, big.NewInt(1)))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	tmpl.SerialNumber = sn.Add(sn, big.NewInt(1))
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}
