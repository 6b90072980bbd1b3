// Command keybroker is the reference key broker: it speaks the Trustee KBS
// attestation protocol 0.4.0 and releases secrets only to SEV-SNP guests whose
// evidence passes its policy. See package broker.
//
//	keybroker gen-ca --dir CA                          # once: the CA guests pin
//	keybroker gen-cert --ca-dir CA --out TLS --hosts 10.0.2.2,broker.example.com
//	keybroker resource add --store DIR --path default/disk/root --secret-file F --measurement HEX
//	keybroker resource rotate|remove|list ...; keybroker measurement allow|revoke ...
//	keybroker check-policy [--store DIR] policy.yaml
//	keybroker serve --policy policy.yaml --store DIR (--tls-dir TLS | --insecure-http)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const commands = "serve|check-policy|gen-ca|gen-cert|resource|measurement"

// errUsage marks errors caused by bad arguments (exit 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: keybroker "+commands+" [flags] (keybroker <command> -h for flags)")
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "check-policy":
		err = checkPolicy(args[1:], stdout, stderr)
	case "gen-ca":
		err = genCA(args[1:], stdout, stderr)
	case "gen-cert":
		err = genCert(args[1:], stdout, stderr)
	case "resource":
		err = resourceCmd(args[1:], os.Stdin, stdout, stderr)
	case "measurement":
		err = measurementCmd(args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("%w: unknown command %q (want one of %s)", errUsage, args[0], commands)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "keybroker: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "keybroker: %v\n", err)
		return 1
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keybroker "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args and turns flag errors and stray arguments into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
