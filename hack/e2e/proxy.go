//go:build linux

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cvminit/cvminit/agent"

	"github.com/cvminit/cvminit/agent/kbs"
)

// Fault is how a Proxy misbehaves towards the guest.
type Fault int

// The faults a Proxy injects.
const (
	Forward     Fault = iota // none: the request goes to the broker, its answer back
	Drop                     // the connection is closed without an answer
	Unavailable              // 503 with a KBS error body, the broker not asked
	Garbage                  // 200 with a body that is not JSON, the broker not asked
	TruncateJWE              // forwarded, but the body of a /resource answer is cut in half
	Replay                   // answered from ProxyConfig.Recording, the broker never contacted
)

// maxProxyBody bounds a request or answer body the proxy reads.
const maxProxyBody = 4 << 20

// ProxyConfig configures StartProxy.
type ProxyConfig struct {
	// TLSDir holds the broker's server.pem and server-key.pem (the proxy
	// presents them: the guest pins their CA) and ca.pem (the proxy trusts
	// it for the broker), as TLSInit made them.
	TLSDir     string
	Port       int // the proxy listens on 127.0.0.1:Port
	BrokerPort int // the real broker listens on 127.0.0.1:BrokerPort; unused by Replay
	Fault      Fault
	// First limits the fault to the first First requests the proxy
	// receives (the later ones are forwarded); 0 means every request.
	First int
	// Delay holds every answer back this long (a dropped connection too),
	// unless the client leaves first.
	Delay time.Duration
	// Recording is what Replay answers from: the i-th request for a method
	// and path gets the answer of the i-th recorded one (502 if none).
	Recording []Exchange
}

// Exchange is one request the proxy received and what it answered.
type Exchange struct {
	Method, Path string
	Header       http.Header // the request's headers
	Body         []byte      // the request's body
	Status       int         // 0: no answer (dropped, or the client left)
	RespHeader   http.Header
	RespBody     []byte
	Faulted      bool // the answer is not the broker's own
}

// Proxy is a fault-injecting HTTPS reverse proxy in front of the key
// broker. It records every exchange.
type Proxy struct {
	cfg      ProxyConfig
	srv      *http.Server
	upstream *http.Client // nil when replaying

	mu  sync.Mutex
	log []Exchange
}

// StartProxy listens on 127.0.0.1:c.Port with the broker's TLS identity
// and serves until Close.
func StartProxy(c ProxyConfig) (*Proxy, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.TLSDir, "server.pem"), filepath.Join(c.TLSDir, "server-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("proxy TLS identity: %w", err)
	}
	p := &Proxy{cfg: c}
	if c.Fault != Replay {
		if p.upstream, err = brokerClient(c.TLSDir); err != nil {
			return nil, err
		}
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)), &tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}, // HTTP/2 connections cannot be hijacked (Drop)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }() // ends with ErrServerClosed at Close
	return p, nil
}

// brokerClient is an HTTPS client that trusts only the CA in tlsDir.
func brokerClient(tlsDir string) (*http.Client, error) {
	ca, err := os.ReadFile(filepath.Join(tlsDir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("broker CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s/ca.pem", tlsDir)
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// Close stops listening and closes every open connection.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	if p.upstream != nil {
		p.upstream.CloseIdleConnections()
	}
	return err
}

// Exchanges returns a copy of every exchange so far, in arrival order.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

// Count returns how many requests for path (e.g. kbs.PathAuth) arrived.
func (p *Proxy) Count(path string) int {
	n := 0
	for _, x := range p.Exchanges() {
		if x.Path == path {
			n++
		}
	}
	return n
}

// Faulted returns how many answers were not the broker's own.
func (p *Proxy) Faulted() int {
	n := 0
	for _, x := range p.Exchanges() {
		if x.Faulted {
			n++
		}
	}
	return n
}

// ServeHTTP answers one request as the configuration says and records it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProxyBody))
	if err != nil {
		return // the client left
	}
	x := Exchange{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	p.mu.Lock()
	i := len(p.log)
	p.log = append(p.log, x)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.log[i] = x
		p.mu.Unlock()
	}()
	if err := (agent.SystemClock{}).Sleep(r.Context(), p.cfg.Delay); err != nil { // the guest gave up
		return
	}
	fault := Forward
	if p.cfg.First == 0 || i < p.cfg.First {
		fault = p.cfg.Fault
	}
	x.Faulted = fault != Forward
	switch fault {
	case Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	case Unavailable:
		x.Status, x.RespHeader = http.StatusServiceUnavailable, http.Header{"Content-Type": {"application/json"}}
		x.RespBody = []byte(`{"type":"https://github.com/confidential-containers/kbs/errors/Unavailable","detail":"injected"}`)
	case Garbage:
		x.Status, x.RespHeader = http.StatusOK, http.Header{"Content-Type": {"application/json"}}
		x.RespBody = []byte("\x00\xffnot json{{")
	case Replay:
		x.Status, x.RespHeader, x.RespBody = p.recorded(i, r.Method, r.URL.Path)
	default:
		x.Status, x.RespHeader, x.RespBody, err = p.forward(r, body)
		if err != nil {
			x.Status, x.RespHeader, x.RespBody = http.StatusBadGateway, http.Header{}, []byte(err.Error())
		}
		x.Faulted = fault == TruncateJWE && strings.HasPrefix(r.URL.Path, kbs.PathResource)
		if x.Faulted {
			x.RespBody = x.RespBody[:len(x.RespBody)/2]
		}
	}
	answer(w, x.Status, x.RespHeader, x.RespBody)
}

// forward sends the request to the broker and returns its answer.
func (p *Proxy) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(p.cfg.BrokerPort)) + r.URL.RequestURI()
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Accept-Encoding") // the answer's body as the broker means it, for TruncateJWE
	resp, err := p.upstream.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("proxy to broker: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProxyBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("proxy reading broker answer: %w", err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// recorded is the answer of the recorded exchange that matches the
// request at log index i: the same method and path, and as many of its
// kind before it.
func (p *Proxy) recorded(i int, method, path string) (int, http.Header, []byte) {
	p.mu.Lock()
	k := 0
	for _, x := range p.log[:i] {
		if x.Method == method && x.Path == path {
			k++
		}
	}
	p.mu.Unlock()
	for _, x := range p.cfg.Recording {
		if x.Method != method || x.Path != path || x.Status == 0 {
			continue
		}
		if k == 0 {
			return x.Status, x.RespHeader, x.RespBody
		}
		k--
	}
	return http.StatusBadGateway, http.Header{}, []byte("no recorded answer")
}

// answer writes status, h (less the framing headers, which follow body)
// and body.
func answer(w http.ResponseWriter, status int, h http.Header, body []byte) {
	for k, vs := range h {
		if k != "Content-Length" && k != "Transfer-Encoding" && k != "Connection" {
			w.Header()[k] = slices.Clone(vs)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // fails only when the client left: nobody to tell
}
