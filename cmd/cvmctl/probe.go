package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/snp"
)

// probeArgs are the flags of cvmctl probe.
type probeArgs struct {
	broker, ca, socket, resource string
	insecure                     bool
	timeout                      time.Duration
}

func newProbeFlags(a *probeArgs) *flag.FlagSet {
	fs := flag.NewFlagSet("cvmctl probe", flag.ContinueOnError)
	fs.StringVar(&a.broker, "broker", "", "broker base URL, e.g. https://127.0.0.1:8443 (required)")
	fs.StringVar(&a.ca, "ca", "", "PEM CA certificate the broker's TLS identity is pinned to (required for https)")
	fs.StringVar(&a.socket, "snpemu", "", "unix socket of a running snpemu serve (required)")
	fs.StringVar(&a.resource, "resource", "default/disk/root", "resource path repository/type/tag")
	fs.BoolVar(&a.insecure, "insecure-http", false, "allow a plain http:// broker (tests only)")
	fs.DurationVar(&a.timeout, "timeout", 30*time.Second, "overall deadline")
	return fs
}

// runProbe implements cvmctl probe: it plays a guest against a broker, with
// reports from an SNP emulator, to check a broker deployment end to end. It
// prints only the size of a released secret, never the secret.
func runProbe(args []string, stdout, stderr io.Writer) int {
	a := &probeArgs{}
	done, err := parseFlags(newProbeFlags(a), args,
		"usage: cvmctl probe --broker URL --ca CA.pem --snpemu SOCKET [--resource PATH]\n\nflags:", stderr)
	switch {
	case done || err != nil:
	case a.broker == "" || a.socket == "":
		err = usagef("--broker and --snpemu are required")
	default:
		err = a.run(stdout)
	}
	return exitWith(stderr, "cvmctl probe", err)
}

func (a *probeArgs) run(stdout io.Writer) error {
	opts := kbs.Options{URL: a.broker, AllowHTTP: a.insecure, Attempts: 1}
	if a.ca != "" {
		pem, err := os.ReadFile(a.ca)
		if err != nil {
			return err
		}
		opts.RootCAs = x509.NewCertPool()
		if !opts.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate", a.ca)
		}
	}
	client, err := kbs.NewClient(opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	em := &snp.Emulated{Dial: func(ctx context.Context) (io.ReadWriteCloser, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", a.socket)
	}}
	sec, err := client.GetResource(ctx, providerReporter{em}, a.resource)
	if err != nil {
		return err
	}
	defer sec.Wipe()
	fmt.Fprintf(stdout, "released: %s (%d bytes, sealed to this probe's attested key)\n", a.resource, sec.Len())
	return nil
}

// providerReporter adapts an snp.Provider to the KBS client, refusing a report
// the guest itself would refuse (DEBUG policy, foreign REPORT_DATA).
type providerReporter struct{ p snp.Provider }

func (r providerReporter) GetEvidence(ctx context.Context, rd [64]byte) ([]byte, []byte, error) {
	ev, err := r.p.GetReport(ctx, rd)
	if err != nil {
		return nil, nil, err
	}
	if err := snp.CheckOwn(ev.Report, rd); err != nil {
		return nil, nil, err
	}
	return ev.Report, ev.CertTable, nil
}
