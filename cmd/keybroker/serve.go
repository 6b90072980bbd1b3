package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

// serveFlags are the options of `keybroker serve`.
type serveFlags struct {
	policy, store, listen, tlsDir, audit, metrics string
	insecure                                      bool
	nonceTTL                                      time.Duration
	rate                                          float64
	burst                                         int
}

// serve runs the broker until ctx ends; SIGHUP reloads the policy.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	b, closeAudit, err := newBroker(f, log)
	if err != nil {
		return err
	}
	defer closeAudit()
	ln, err := listener(f.listen, f.tlsDir)
	if err != nil {
		return err
	}
	if f.insecure {
		log.Warn("INSECURE: serving plain HTTP; guests must pin the broker's TLS CA in production")
	}
	log.Info("keybroker listening", "addr", ln.Addr().String(), "tls", !f.insecure, "store", f.store)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, hup, b, f.policy, log)
	servers := []server{{ln: ln, h: b.Handler()}}
	if f.metrics != "" {
		mln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		servers = append(servers, server{ln: mln, h: b.MetricsHandler()})
	}
	return runServers(ctx, servers)
}

func parseServe(args []string, stderr io.Writer) (*serveFlags, error) {
	fs := newFlags("serve", stderr)
	f := &serveFlags{}
	fs.StringVar(&f.policy, "policy", "", "policy file (YAML), required; `keybroker check-policy` explains it")
	fs.StringVar(&f.store, "store", "", "resource store directory (keybroker resource ...), required")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&f.tlsDir, "tls-dir", "", "directory with server.pem and server-key.pem from gen-cert")
	fs.BoolVar(&f.insecure, "insecure-http", false, "serve plain HTTP (local tests only; logged loudly)")
	fs.DurationVar(&f.nonceTTL, "nonce-ttl", broker.DefaultNonceTTL, "life of an unused nonce (at most 60s)")
	fs.StringVar(&f.audit, "audit-log", "-", "audit log file (JSON lines, appended, 0600); - for stderr")
	fs.StringVar(&f.metrics, "metrics-listen", "127.0.0.1:9090", "address for /metrics and /healthz (operators only); empty to disable")
	fs.Float64Var(&f.rate, "rate", broker.DefaultRate, "requests per second per client IP; negative: unlimited")
	fs.IntVar(&f.burst, "burst", broker.DefaultBurst, "request burst per client IP")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if f.policy == "" || f.store == "" || (f.tlsDir == "") == !f.insecure {
		return nil, fmt.Errorf("%w: serve needs --policy, --store and exactly one of --tls-dir or --insecure-http", errUsage)
	}
	return f, nil
}

// newBroker loads the policy and store and opens the audit log.
func newBroker(f *serveFlags, log *slog.Logger) (*broker.Broker, func(), error) {
	p, err := broker.LoadPolicy(f.policy)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(f.store)
	if err != nil {
		return nil, nil, err
	}
	audit, closeAudit, err := openAudit(f.audit)
	if err != nil {
		return nil, nil, err
	}
	b, err := broker.New(broker.Config{Policy: p, Store: st, Logger: log, Audit: audit,
		NonceTTL: f.nonceTTL, Rate: f.rate, Burst: f.burst})
	if err != nil {
		closeAudit()
		return nil, nil, err
	}
	return b, closeAudit, nil
}

func openAudit(path string) (io.Writer, func(), error) {
	if path == "-" {
		return os.Stderr, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening audit log: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// reloadOnHUP reloads the policy file on every SIGHUP; a bad file is logged
// and the policy in force stays.
func reloadOnHUP(ctx context.Context, hup <-chan os.Signal, b *broker.Broker, path string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			p, err := broker.LoadPolicy(path)
			if err == nil {
				err = b.Reload(p)
			}
			if err != nil {
				log.Error("policy reload refused; the previous policy stays in force", "err", err)
			}
		}
	}
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

type server struct {
	ln net.Listener
	h  http.Handler
}

// runServers serves until ctx ends or one server fails, then shuts all down
// gracefully: requests in flight finish (up to 10 s), new ones are refused.
func runServers(ctx context.Context, servers []server) error {
	errc := make(chan error, len(servers))
	var https []*http.Server
	for _, s := range servers {
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10}
		https = append(https, srv)
		go func() { errc <- srv.Serve(s.ln) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range https {
		if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
