package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// The admin commands write the broker's resource store (package store); a
// running broker sees each change at its next request. Secrets are read from
// a file or stdin, never from argv, and are never printed.
const (
	resourceUsage = `usage: keybroker resource add|rotate|remove|list --store DIR [flags]
  add     --path repo/type/tag --secret-file FILE [--measurement HEX]...
  rotate  --path repo/type/tag --secret-file FILE
  remove  --path repo/type/tag
  list    (path, number of measurements, measurements, updated; never secrets)
FILE "-" reads the secret from stdin. keybroker resource <sub-command> -h for flags.`
	measurementUsage = `usage: keybroker measurement allow|revoke --store DIR --path repo/type/tag HEX
HEX is a 96-digit launch measurement (cvmctl measure). keybroker measurement <sub-command> -h for flags.`
)

// resourceCmd runs "keybroker resource <add|rotate|remove|list> [flags]".
func resourceCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, rest, err := subCommand("resource", resourceUsage, args, stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return resourceAdd(rest, stdin, stdout, stderr)
	case "rotate":
		return resourceRotate(rest, stdin, stdout, stderr)
	case "remove":
		return resourceRemove(rest, stdout, stderr)
	case "list":
		return resourceList(rest, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown resource sub-command %q (want add, rotate, remove or list)", errUsage, sub)
}

// measurementCmd runs "keybroker measurement <allow|revoke> [flags] HEX".
func measurementCmd(args []string, stdout, stderr io.Writer) error {
	sub, rest, err := subCommand("measurement", measurementUsage, args, stderr)
	if err != nil {
		return err
	}
	if sub != "allow" && sub != "revoke" {
		return fmt.Errorf("%w: unknown measurement sub-command %q (want allow or revoke)", errUsage, sub)
	}
	fl, dir, path := adminFlags("measurement "+sub, "--store DIR --path repo/type/tag HEX", stderr)
	m, err := parseOneArg(fl, rest)
	if err != nil {
		return err
	}
	s, err := openStore(*dir, *path, "measurement "+sub)
	if err != nil {
		return err
	}
	op, done := s.Allow, "allowed"
	if sub == "revoke" {
		op, done = s.Revoke, "revoked"
	}
	if err := op(*path, m); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s for %s\n", done, m, *path)
	return nil
}

// subCommand splits off args[0], answering -h with the command's usage.
func subCommand(cmd, usage string, args []string, stderr io.Writer) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%w: %s needs a sub-command (keybroker %s -h)", errUsage, cmd, cmd)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stderr, usage)
		return "", nil, flag.ErrHelp
	}
	return args[0], args[1:], nil
}

func resourceAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl, dir, path := adminFlags("resource add", "--store DIR --path repo/type/tag --secret-file FILE [--measurement HEX]...", stderr)
	file := fl.String("secret-file", "", `file holding the secret, "-" for stdin, required`)
	var ms measurementList
	fl.Var(&ms, "measurement", "launch measurement allowed to receive the secret, 96 hex digits (repeatable)")
	if err := parse(fl, args); err != nil {
		return err
	}
	err := withSecret("resource add", *dir, *path, *file, stdin, func(s *store.Store, secret []byte) error {
		return s.Add(*path, secret, ms)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s with %d allowed measurement(s)\n", *path, len(ms))
	return nil
}

func resourceRotate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl, dir, path := adminFlags("resource rotate", "--store DIR --path repo/type/tag --secret-file FILE", stderr)
	file := fl.String("secret-file", "", `file holding the new secret, "-" for stdin, required`)
	if err := parse(fl, args); err != nil {
		return err
	}
	err := withSecret("resource rotate", *dir, *path, *file, stdin, func(s *store.Store, secret []byte) error {
		return s.Rotate(*path, secret)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated %s\n", *path)
	return nil
}

func resourceRemove(args []string, stdout, stderr io.Writer) error {
	fl, dir, path := adminFlags("resource remove", "--store DIR --path repo/type/tag", stderr)
	if err := parse(fl, args); err != nil {
		return err
	}
	s, err := openStore(*dir, *path, "resource remove")
	if err != nil {
		return err
	}
	if err := s.Remove(*path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %s\n", *path)
	return nil
}

func resourceList(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("resource list", stderr)
	dir := fl.String("store", "", "store directory, required")
	fl.Usage = func() { fmt.Fprintln(stderr, "usage: keybroker resource list --store DIR"); fl.PrintDefaults() }
	if err := parse(fl, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: resource list needs --store", errUsage)
	}
	s, err := store.Open(*dir)
	if err != nil {
		return err
	}
	list, err := s.List()
	if err != nil {
		return err
	}
	for _, r := range list {
		ms := "-"
		if len(r.Measurements) > 0 {
			ms = strings.Join(r.Measurements, ",")
		}
		fmt.Fprintf(stdout, "%s\t%d\t%s\t%s\n", r.Path, len(r.Measurements), ms, r.Updated.Format(time.RFC3339))
	}
	return nil
}

// adminFlags makes the flag set of an admin sub-command with --store and --path.
func adminFlags(name, synopsis string, stderr io.Writer) (fl *flag.FlagSet, dir, path *string) {
	fl = newFlags(name, stderr)
	dir = fl.String("store", "", "store directory (created 0700 if missing), required")
	path = fl.String("path", "", "resource path repository/type/tag, required")
	fl.Usage = func() { fmt.Fprintf(stderr, "usage: keybroker %s %s\n", name, synopsis); fl.PrintDefaults() }
	return fl, dir, path
}

// openStore checks the required --store and --path and opens the store.
// withSecret checks the flags of cmd, opens the store and reads the secret
// file, runs op with both and zeroes the secret.
func withSecret(cmd, dir, path, file string, stdin io.Reader, op func(*store.Store, []byte) error) error {
	if err := needSecretFile(file, cmd); err != nil {
		return err
	}
	s, err := openStore(dir, path, cmd)
	if err != nil {
		return err
	}
	secret, err := readSecretFile(file, stdin)
	if err != nil {
		return err
	}
	defer clear(secret)
	return op(s, secret)
}

func openStore(dir, path, cmd string) (*store.Store, error) {
	if dir == "" || path == "" {
		return nil, fmt.Errorf("%w: %s needs --store and --path", errUsage, cmd)
	}
	if err := store.ValidatePath(path); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return store.Open(dir)
}

func needSecretFile(file, cmd string) error {
	if file == "" {
		return fmt.Errorf("%w: %s needs --secret-file (a file, or - for stdin)", errUsage, cmd)
	}
	return nil
}

// parseOneArg parses flags around exactly one positional argument.
func parseOneArg(fl *flag.FlagSet, args []string) (string, error) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	if fl.NArg() == 0 {
		return "", fmt.Errorf("%w: %s needs a measurement (%d hex digits)", errUsage, fl.Name(), store.MeasurementLen)
	}
	arg := fl.Arg(0)
	if err := parse(fl, fl.Args()[1:]); err != nil {
		return "", err
	}
	m, err := store.NormalizeMeasurement(arg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errUsage, err)
	}
	return m, nil
}

// readSecretFile reads 1 to store.MaxSecret bytes from file ("-": stdin)
// into one buffer, which the caller zeroes.
func readSecretFile(file string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading secret: %w", err)
		}
		defer f.Close()
		r = f
	} else if stdin == nil {
		return nil, errors.New("reading secret: no stdin")
	}
	buf := make([]byte, store.MaxSecret+1)
	n, rerr := io.ReadFull(r, buf)
	var err error
	switch {
	case rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF):
		err = fmt.Errorf("reading secret from %s: %w", file, rerr)
	case n == 0:
		err = fmt.Errorf("secret file %s is empty", file)
	case n > store.MaxSecret:
		err = fmt.Errorf("secret file %s is larger than %d bytes", file, store.MaxSecret)
	}
	if err != nil {
		clear(buf)
		return nil, err
	}
	return buf[:n], nil
}

// measurementList is a repeatable --measurement flag.
type measurementList []string

func (m *measurementList) String() string { return strings.Join(*m, ",") }

func (m *measurementList) Set(v string) error {
	n, err := store.NormalizeMeasurement(v)
	if err != nil {
		return err
	}
	*m = append(*m, n)
	return nil
}
