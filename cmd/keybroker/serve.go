package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/broker"
)

// serve runs the broker until ctx ends.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	policy := fs.String("policy", "", "policy file (YAML), required")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	tlsDir := fs.String("tls-dir", "", "directory with server.pem and server-key.pem from tls-init")
	insecure := fs.Bool("insecure-http", false, "serve plain HTTP (tests only; guests pin TLS in production)")
	nonceTTL := fs.Duration("nonce-ttl", broker.DefaultNonceTTL, "life of an unused nonce (at most 60s)")
	product := fs.String("product", "", "product line for v2 reports without CPUID (Milan, Genoa, Turin)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *policy == "" || (*tlsDir == "") == !*insecure {
		return fmt.Errorf("%w: serve needs --policy and exactly one of --tls-dir or --insecure-http", errUsage)
	}
	log := newLogger(stderr)
	p, err := broker.LoadPolicy(*policy)
	if err != nil {
		return err
	}
	b, err := broker.New(broker.Config{Policy: p, Logger: log, NonceTTL: *nonceTTL, Product: *product})
	if err != nil {
		return err
	}
	ln, err := listener(*listen, *tlsDir)
	if err != nil {
		return err
	}
	log.Info("keybroker listening", "addr", ln.Addr().String(), "tls", *tlsDir != "", "resources", len(p.Resources))
	return runServer(ctx, ln, b.Handler())
}

func listener(addr, tlsDir string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || tlsDir == "" {
		return ln, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server-key.pem"))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("loading tls key pair: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}), nil
}

func runServer(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
