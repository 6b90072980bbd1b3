package kbs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// totalCalls is how many requests b answered.
func (b *fakeBroker) totalCalls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.calls {
		n += c
	}
	return n
}

func x509Pool(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// TestPreconnectOpensTheFirstConnection: Preconnect opens and verifies the
// connection before any request is made, sends nothing on it, and the
// whole protocol then runs over that one connection.
func TestPreconnectOpensTheFirstConnection(t *testing.T) {
	b := newFakeBroker(diskKey)
	var mu sync.Mutex
	accepted := 0
	handshook := make(chan struct{}, 8)
	c, _ := newTestClientWith(t, b, nil, func(srv *httptest.Server) {
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if s == http.StateNew {
				accepted++
			}
		}
		srv.TLS = &tls.Config{VerifyConnection: func(tls.ConnectionState) error {
			handshook <- struct{}{}
			return nil
		}}
	})
	c.Preconnect()
	select {
	case <-handshook:
	case <-time.After(10 * time.Second):
		t.Fatal("Preconnect opened no TLS connection")
	}
	if n := b.totalCalls(); n != 0 {
		t.Fatalf("%d requests before GetResource", n)
	}
	c.Preconnect() // once only
	if _, err := c.GetResource(context.Background(), fakeReporter{}, "default/disk/root"); err != nil {
		t.Fatalf("GetResource: %v (broker saw %v)", err, b.problems)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepted != 1 || len(handshook) != 0 {
		t.Errorf("server accepted %d connections, %d more handshakes; want only the one Preconnect opened",
			accepted, len(handshook))
	}
}

// TestPreconnectFailureIsRetried: an early connection that fails (here the
// server drops the first connection) is not an error; the first request
// dials again and succeeds.
func TestPreconnectFailureIsRetried(t *testing.T) {
	b := newFakeBroker(diskKey)
	var mu sync.Mutex
	dropped := 0
	_, srv := newTestClientWith(t, b, nil, func(srv *httptest.Server) {
		srv.Config.ConnState = func(conn net.Conn, s http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if s == http.StateNew && dropped == 0 {
				dropped++
				_ = conn.Close()
			}
		}
	})
	c, err := NewClient(Options{URL: srv.URL, RootCAs: x509Pool(srv.Certificate()), Attempts: 1}) // no retry
	if err != nil {
		t.Fatal(err)
	}
	c.Preconnect()
	if _, err := c.GetResource(context.Background(), fakeReporter{}, "default/disk/root"); err != nil {
		t.Fatalf("GetResource: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped != 1 || b.count("auth") != 1 {
		t.Errorf("dropped %d, auth calls %d; want the early connection dropped and one session", dropped, b.count("auth"))
	}
}

// TestPreconnectOtherBroker: the early connection is verified like any
// other: a broker with another certificate gets no request, and the error
// the caller sees is the request's own TLS failure.
func TestPreconnectOtherBroker(t *testing.T) {
	b := newFakeBroker(diskKey)
	_, srv := newTestClient(t, b, nil)
	pool := x509Pool(selfSignedCert(t))
	c, err := NewClient(Options{URL: srv.URL, RootCAs: pool, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Preconnect()
	_, err = c.GetResource(context.Background(), fakeReporter{}, "default/disk/root")
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") || b.totalCalls() != 0 {
		t.Errorf("err = %v, broker calls %v; want a TLS failure and no request", err, b.calls)
	}
}

// TestPreconnectWaitHonoursContext: a request waiting for an early
// connection that is still being opened gives up with its context.
func TestPreconnectWaitHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers the handshake
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c, err := NewClient(Options{URL: "https://" + ln.Addr().String(), RootCAs: x509Pool(selfSignedCert(t)), Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Preconnect()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.GetResource(ctx, fakeReporter{}, "default/disk/root")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("GetResource = %v after %v; want an error at the 300 ms deadline", err, time.Since(start))
	}
}
