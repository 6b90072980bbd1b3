package kbs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"time"
)

// Bounds on opening one connection to the broker.
const (
	dialTimeout      = 5 * time.Second
	handshakeTimeout = 10 * time.Second
)

// dialer opens the built-in client's TLS connections to the broker, each
// verified against the pinned roots before the HTTP transport gets it. Its
// first connection can be opened ahead of the first request (preconnect).
type dialer struct {
	tls  *tls.Dialer
	addr string // the broker's host:port, as the transport asks for it

	mu    sync.Mutex
	early *earlyConn // opened by preconnect, not yet handed to a request
	begun bool       // preconnect ran or a request dialled: no more early connections
}

// earlyConn is a connection preconnect is opening; done closes when conn
// or err is set.
type earlyConn struct {
	done chan struct{}
	conn net.Conn
	err  error
}

func newDialer(roots *x509.CertPool, addr string) *dialer {
	return &dialer{
		tls: &tls.Dialer{
			NetDialer: &net.Dialer{Timeout: dialTimeout},
			Config:    &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
		addr: addr,
	}
}

// dial opens and verifies one connection to addr.
func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+handshakeTimeout)
	defer cancel()
	return d.tls.DialContext(ctx, network, addr)
}

// preconnect starts opening the broker connection in the background, once
// and only before any request has dialled.
func (d *dialer) preconnect() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.begun {
		return
	}
	d.begun = true
	e := &earlyConn{done: make(chan struct{})}
	d.early = e
	go func() {
		defer close(e.done)
		e.conn, e.err = d.dial(context.Background(), "tcp", d.addr)
	}()
}

// take hands out the early connection, if there is one for addr, once.
func (d *dialer) take(addr string) *earlyConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.begun = true
	e := d.early
	if e == nil || addr != d.addr {
		return nil
	}
	d.early = nil
	return e
}

// dialTLS is the transport's DialTLSContext: the early connection when
// there is one (waiting for it if it is still being opened), else a new
// one. An early connection that failed is not reported: a new one is
// dialled in its place, whose error the request sees.
func (d *dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	if e := d.take(addr); e != nil {
		select {
		case <-e.done:
			if e.err == nil {
				return e.conn, nil
			}
		case <-ctx.Done():
			go func() { // nobody will use it now
				<-e.done
				if e.conn != nil {
					_ = e.conn.Close()
				}
			}()
			return nil, ctx.Err()
		}
	}
	return d.dial(ctx, network, addr)
}
