package kbs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/secret"
)

// Outcomes callers branch on. Every error GetResource returns wraps at most
// one of them.
var (
	// ErrRefused: the broker answered 401, 403 or 404 (attestation failed,
	// policy denied, no such resource). Not retried.
	ErrRefused = errors.New("broker refused the request")
	// ErrUnreachable: transport failures or 5xx answers until the attempts
	// or the context's deadline ran out.
	ErrUnreachable = errors.New("broker unreachable")
	// ErrProtocol: the broker answered something this client cannot use
	// (other 4xx, malformed JSON, no session cookie, a JWE that does not
	// open with the session key). Not retried.
	ErrProtocol = errors.New("unexpected broker response")
	// ErrInvalidPath: the resource path is not repository/type/tag.
	ErrInvalidPath = errors.New("invalid resource path")
)

// Reporter produces SNP evidence binding reportData: the raw 0x4A0-byte
// report and the extended-report certificate table (empty if none).
type Reporter interface {
	GetEvidence(ctx context.Context, reportData [64]byte) (report, certTable []byte, err error)
}

// Options configure a Client. Zero values are documented per field.
type Options struct {
	// URL is the broker's base URL, e.g. "https://10.0.2.2:8080".
	URL string
	// RootCAs pins the broker's TLS identity. Required for https unless
	// HTTPClient is set; there is no fallback to system roots.
	RootCAs *x509.CertPool
	// HTTPClient replaces the built-in client (and then RootCAs is unused).
	HTTPClient *http.Client
	// AllowHTTP permits an http:// URL. For tests only: the broker's
	// identity is then not authenticated.
	AllowHTTP bool
	// Attempts bounds the protocol runs tried; 0 means 5.
	Attempts int
	// Backoff is the first pause between attempts, doubling up to
	// MaxBackoff; 0 means 500ms.
	Backoff time.Duration
	// MaxBackoff caps the pause; 0 means 8s.
	MaxBackoff time.Duration
	// Logger receives progress and retry messages; nil discards them.
	Logger *slog.Logger
}

// Client fetches secrets from a KBS 0.4.0 broker with SNP evidence.
type Client struct {
	base       string
	http       *http.Client
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
	dialer     *dialer // nil with Options.HTTPClient or plain http
}

// NewClient checks o and builds a Client.
func NewClient(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("broker URL: %w", err)
	}
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && o.AllowHTTP):
		return nil, fmt.Errorf("broker URL %q: scheme must be https", o.URL)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return nil, fmt.Errorf("broker URL %q: want scheme://host[:port] only", o.URL)
	case u.Scheme == "https" && o.RootCAs == nil && o.HTTPClient == nil:
		return nil, errors.New("broker TLS identity not pinned: RootCAs is required")
	}
	c := &Client{
		base: u.Scheme + "://" + u.Host, http: o.HTTPClient,
		attempts: o.Attempts, backoff: o.Backoff, maxBackoff: o.MaxBackoff, log: o.Logger,
	}
	if c.http == nil {
		if u.Scheme == "https" {
			c.dialer = newDialer(o.RootCAs, hostPort(u))
		}
		c.http = pinnedHTTPClient(c.dialer)
	}
	if c.attempts <= 0 {
		c.attempts = 5
	}
	if c.backoff <= 0 {
		c.backoff = 500 * time.Millisecond
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = 8 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// pinnedHTTPClient connects through d (TLS verified against the pinned
// roots; plain TCP when d is nil, for http), ignores proxy settings from
// the environment and refuses redirects.
func pinnedHTTPClient(d *dialer) *http.Client {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout}).DialContext,
		ResponseHeaderTimeout: 20 * time.Second,
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
	}
	if d != nil {
		t.DialTLSContext = d.dialTLS
	}
	return &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return fmt.Errorf("%w: redirect refused", ErrProtocol)
		},
	}
}

// hostPort is u's host:port, the port defaulting to 443 as the HTTP
// transport's does.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// Preconnect starts opening, in the background, the TLS connection the
// first request will use, so that the TCP and TLS handshakes (and the
// check of the broker's certificate against the pinned roots) overlap with
// what the caller does before it calls GetResource. Nothing is sent on the
// connection before a request is. The attempt is bounded by the dial and
// handshake timeouts; if it fails, the first request dials again and
// reports that attempt's error. It does nothing after the first request,
// with Options.HTTPClient, or for plain http.
func (c *Client) Preconnect() {
	if c.dialer != nil {
		c.dialer.preconnect()
	}
}

// resourceSegment is what Trustee accepts in a repository/type/tag segment.
var resourceSegment = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// checkResourcePath accepts exactly "repository/type/tag" of URL-safe
// segments, none of them "." or "..".
func checkResourcePath(p string) error {
	segs := strings.Split(p, "/")
	if len(segs) != 3 {
		return fmt.Errorf("%w %q: want repository/type/tag", ErrInvalidPath, p)
	}
	for _, s := range segs {
		if !resourceSegment.MatchString(s) || s == "." || s == ".." {
			return fmt.Errorf("%w %q: segment %q", ErrInvalidPath, p, s)
		}
	}
	return nil
}

// GetResource runs the whole protocol (auth, attest with fresh evidence,
// fetch the resource) and returns the decrypted resource. Each attempt uses
// a new session, nonce and ephemeral key. Transport failures and 5xx answers
// are retried with backoff within Attempts and ctx's deadline; refusals are
// not. The caller owns the returned buffer and must Wipe it. The ephemeral
// private key is dropped after each attempt; crypto/ecdh offers no way to
// zero it, so that is as far as Go allows.
func (c *Client) GetResource(ctx context.Context, r Reporter, path string) (*secret.Buffer, error) {
	if err := checkResourcePath(path); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("getting resource: nil Reporter")
	}
	var last error
	pause := c.backoff
	for attempt := 1; ; attempt++ {
		buf, err := c.session(ctx, r, path)
		if err == nil {
			c.log.Info("kbs resource released", "path", path, "attempt", attempt, "bytes", buf.Len())
			return buf, nil
		}
		var t *transientError
		if !errors.As(err, &t) {
			return nil, fmt.Errorf("getting resource %s: %w", path, err)
		}
		last = t.err
		c.log.Warn("kbs attempt failed", "attempt", attempt, "of", c.attempts, "err", last)
		if attempt >= c.attempts || !sleep(ctx, pause) {
			return nil, fmt.Errorf("getting resource %s: %w after %d attempts: %w", path, ErrUnreachable, attempt, last)
		}
		pause = min(2*pause, c.maxBackoff)
	}
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
