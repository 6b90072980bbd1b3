// Package broker is the reference key broker: a server for the Trustee KBS
// attestation protocol 0.4.0 ("RCAR": /kbs/v0/auth, /attest, /resource) that
// verifies SEV-SNP evidence with package evidence and releases secrets from a
// durable store (package store), sealed (JWE) to the key bound into the
// report, only to evidence that passes policy and only to measurements the
// resource allows. Every decision goes to a JSON-lines audit log and to
// Prometheus metrics.
//
// It is written here rather than reused because Trustee is a Rust service with
// its own attestation-service and policy engine; this broker is small enough to
// start in-process from Go tests and speaks the same wire protocol, so guests
// cannot tell the two apart.
package broker

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/keybroker/store"
	"github.com/go-jose/go-jose/v4"
)

// Defaults of Config.
const (
	DefaultNonceTTL    = 30 * time.Second
	MaxNonceTTL        = 60 * time.Second
	DefaultAttestedTTL = 5 * time.Minute
	DefaultMaxSessions = 4096
	DefaultRate        = 10 // requests per second per client
	DefaultBurst       = 30
	maxBody            = 1 << 20
	maxClients         = 16384
)

// Config configures a Broker. Zero values take the documented defaults.
type Config struct {
	Policy      *PolicyFile      // required
	Store       *store.Store     // required: the secrets and the measurements each allows
	Logger      *slog.Logger     // nil: slog.Default()
	Audit       io.Writer        // audit log (JSON lines); nil: no audit log
	Now         func() time.Time // nil: time.Now
	NonceTTL    time.Duration    // life of an unused nonce; 0: DefaultNonceTTL; at most MaxNonceTTL
	AttestedTTL time.Duration    // life of an attested session and its token; 0: DefaultAttestedTTL
	MaxSessions int              // open sessions kept at once; 0: DefaultMaxSessions
	Rate        float64          // requests per second per client IP; 0: DefaultRate; < 0: unlimited
	Burst       int              // burst per client IP; 0: DefaultBurst
}

// Broker serves the KBS protocol. It is safe for concurrent use.
type Broker struct {
	cfg      Config
	log      *slog.Logger
	policy   atomic.Pointer[policyState]
	sessions *sessions
	store    *store.Store
	audit    *auditLog
	metrics  *metrics
	limiter  *limiter
	tokenKey []byte      // HMAC key of the tokens only this broker verifies
	signer   jose.Signer // HS256 with tokenKey; go-jose signers are immutable
}

// policyState is one loaded policy and the verifier built from it; Reload
// swaps it as a whole so a request sees either the old or the new one.
type policyState struct {
	file     *PolicyFile
	verifier *evidence.Verifier
	global   [][]byte // attestation.allowed_measurements: allowed for every resource
}

// New validates cfg, loads the policy's trust roots and returns a Broker.
func New(cfg Config) (*Broker, error) {
	if cfg.Policy == nil || cfg.Store == nil {
		return nil, errors.New("broker: a policy and a store are required")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	key, signer, err := newTokenSigner()
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b := &Broker{
		cfg: cfg, log: cfg.Logger, store: cfg.Store, audit: &auditLog{w: cfg.Audit},
		tokenKey: key, signer: signer,
		sessions: newSessions(cfg.Now, cfg.NonceTTL, cfg.AttestedTTL, cfg.MaxSessions),
		limiter:  newLimiter(cfg.Rate, cfg.Burst, maxClients, cfg.Now),
	}
	b.metrics = newMetrics(func() float64 { return float64(b.sessions.count()) })
	st, err := b.load(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.policy.Store(st)
	return b, nil
}

func (c *Config) defaults() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = DefaultNonceTTL
	}
	if c.NonceTTL < 0 || c.NonceTTL > MaxNonceTTL {
		return fmt.Errorf("broker: nonce ttl %v outside (0, %v]", c.NonceTTL, MaxNonceTTL)
	}
	if c.AttestedTTL <= 0 {
		c.AttestedTTL = DefaultAttestedTTL
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	return nil
}

// load builds the verifier of p and logs every insecure option it enables.
func (b *Broker) load(p *PolicyFile) (*policyState, error) {
	v, err := evidence.NewVerifier(&p.Attestation, b.log)
	if err != nil {
		return nil, err
	}
	insecure := p.Attestation.Insecure()
	for _, line := range insecure {
		b.log.Warn("INSECURE POLICY OPTION IN FORCE", "option", line)
	}
	b.metrics.insecure.Set(float64(len(insecure)))
	return &policyState{file: p, verifier: v, global: p.measurements()}, nil
}

// Reload replaces the policy. Sessions, nonces and tokens survive: a session
// attested under the old policy keeps its grant, but every later decision
// (attestation, and which measurements a resource allows) uses the new one.
// On error the old policy stays in force.
func (b *Broker) Reload(p *PolicyFile) error {
	st, err := b.load(p)
	if err != nil {
		b.metrics.reloads.WithLabelValues("error").Inc()
		return fmt.Errorf("reloading policy: %w", err)
	}
	b.policy.Store(st)
	b.metrics.reloads.WithLabelValues("ok").Inc()
	b.log.Info("policy reloaded", "insecure_options", len(p.Attestation.Insecure()))
	return nil
}

// Handler returns the HTTP handler serving /kbs/v0/ and /healthz.
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /kbs/v0/auth", b.auth)
	mux.HandleFunc("POST /kbs/v0/attest", b.attest)
	mux.HandleFunc("GET /kbs/v0/resource/{repo}/{type}/{tag}", b.resource)
	mux.HandleFunc("GET /healthz", b.healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a := b.begin(w, r, "other")
		a.refuse(http.StatusNotFound, "InvalidRequestPath", "invalid_path", "request path "+r.URL.Path+" is invalid", nil)
	})
	return http.MaxBytesHandler(b.limit(mux), maxBody)
}

// MetricsHandler serves the Prometheus metrics and /healthz. Serve it on an
// operator-only address: the counters tell who was refused and why.
func (b *Broker) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", b.metrics.handler())
	mux.HandleFunc("GET /healthz", b.healthz)
	return mux
}

// healthz answers 200 when a policy is loaded and the store's index reads.
func (b *Broker) healthz(w http.ResponseWriter, _ *http.Request) {
	if _, err := b.store.Index(); err != nil {
		http.Error(w, "store unreadable", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

// limit refuses clients over their request rate with 429.
func (b *Broker) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !b.limiter.allow(clientIP(r.RemoteAddr)) {
			a := b.begin(w, r, "other")
			a.refuse(http.StatusTooManyRequests, "TooManyRequests", "rate_limited", "too many requests", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}
