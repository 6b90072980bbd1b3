package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
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

// tlsInit makes a one-off CA and a server certificate for the broker. The CA
// certificate (ca.pem) is what guests pin in their measured config; the CA's
// private key is never written, so nobody can mint another server certificate.
func tlsInit(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("tls-init", stderr)
	dir := fl.String("dir", "", "output directory, required")
	hosts := fl.String("hosts", "127.0.0.1,10.0.2.2,localhost", "comma-separated IPs and DNS names the server answers as")
	days := fl.Int("days", 365, "validity in days")
	force := fl.Bool("force", false, "overwrite existing files")
	if err := parse(fl, args); err != nil {
		return err
	}
	if *dir == "" || *days <= 0 || strings.TrimSpace(*hosts) == "" {
		return fmt.Errorf("%w: tls-init needs --dir, --hosts and positive --days", errUsage)
	}
	names := []string{"ca.pem", "server.pem", "server-key.pem"}
	if !*force {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(*dir, n)); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s exists (use --force to replace)", filepath.Join(*dir, n))
			}
		}
	}
	files, err := makeTLS(strings.Split(*hosts, ","), time.Duration(*days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	for i, n := range names {
		if err := os.WriteFile(filepath.Join(*dir, n), files[i], 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s/{%s}; pin ca.pem in the guest config\n", *dir, strings.Join(names, ","))
	return nil
}

// makeTLS returns PEM bytes of the CA certificate, server certificate and server key.
func makeTLS(hosts []string, life time.Duration) ([3][]byte, error) {
	var out [3][]byte
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	now := time.Now().Add(-time.Hour)
	ca := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "cvminit keybroker CA"},
		NotBefore: now, NotAfter: now.Add(life), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return out, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	srv := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "cvminit keybroker"},
		NotBefore: now, NotAfter: now.Add(life), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(strings.TrimSpace(h)); ip != nil {
			srv.IPAddresses = append(srv.IPAddresses, ip)
		} else if h = strings.TrimSpace(h); h != "" {
			srv.DNSNames = append(srv.DNSNames, h)
		}
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return out, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return out, err
	}
	out[0] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	out[1] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER})
	out[2] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return out, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
