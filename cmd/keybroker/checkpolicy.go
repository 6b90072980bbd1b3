package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// checkPolicy lints and loads a policy the way serve does (roots and CRLs
// included) and, given a store, checks that every resource can be released
// to some measurement. Insecure options pass but are printed loudly.
func checkPolicy(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check-policy", stderr)
	storeDir := fs.String("store", "", "also check this resource store against the policy")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keybroker check-policy [--store DIR] POLICY.yaml")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: check-policy needs exactly one policy file", errUsage)
	}
	p, err := broker.LoadPolicy(fs.Arg(0))
	if err != nil {
		return err
	}
	if _, err := evidence.NewVerifier(&p.Attestation, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("policy %s: %w", fs.Arg(0), err)
	}
	if *storeDir != "" {
		if err := checkStore(p, *storeDir); err != nil {
			return err
		}
	}
	for _, line := range p.Attestation.Insecure() {
		fmt.Fprintf(stdout, "WARNING: INSECURE: %s\n", line)
	}
	fmt.Fprintf(stdout, "%s: policy OK\n", fs.Arg(0))
	return nil
}

// checkStore refuses a store with a resource no measurement can obtain.
func checkStore(p *broker.PolicyFile, dir string) error {
	if _, err := os.Stat(dir); err != nil { // Open would create a missing store
		return fmt.Errorf("store: %w", err)
	}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	list, err := st.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range list {
		if len(r.Measurements) == 0 && len(p.Attestation.AllowedMeasurements) == 0 {
			errs = append(errs, fmt.Errorf("resource %s: no measurement may obtain it (keybroker measurement allow)", r.Path))
		}
	}
	return errors.Join(errs...)
}
