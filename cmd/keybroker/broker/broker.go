// Package broker is the reference key broker: a server for the Trustee KBS
// attestation protocol 0.4.0 ("RCAR": /kbs/v0/auth, /attest, /resource) that
// verifies SEV-SNP evidence with package evidence and releases secrets, sealed
// (JWE) to the key bound into the report, only to evidence that passes policy.
//
// It is written here rather than reused because Trustee is a Rust service with
// its own attestation-service and policy engine; this broker is small enough to
// start in-process from Go tests and speaks the same wire protocol, so guests
// cannot tell the two apart.
package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/go-jose/go-jose/v4"
)

// Defaults of Config.
const (
	DefaultNonceTTL    = 30 * time.Second
	MaxNonceTTL        = 60 * time.Second
	DefaultAttestedTTL = 5 * time.Minute
	DefaultMaxSessions = 4096
	maxBody            = 1 << 20
)

// Config configures a Broker. Zero values take the documented defaults.
type Config struct {
	Policy      *PolicyFile      // required
	Logger      *slog.Logger     // nil: slog.Default()
	Now         func() time.Time // nil: time.Now
	NonceTTL    time.Duration    // life of an unused nonce; 0: DefaultNonceTTL; at most MaxNonceTTL
	AttestedTTL time.Duration    // life of an attested session and its token; 0: DefaultAttestedTTL
	MaxSessions int              // open sessions kept at once; 0: DefaultMaxSessions
	Product     string           // product line for reports without CPUID bytes (v2); "" : from the report
}

// Broker serves the KBS protocol. It is safe for concurrent use.
type Broker struct {
	cfg      Config
	log      *slog.Logger
	verifier *evidence.Verifier
	sessions *sessions
	store    *store
	tokenKey []byte      // HMAC key of the tokens only this broker verifies
	signer   jose.Signer // HS256 with tokenKey; go-jose signers are immutable
}

// New validates cfg, loads the policy's trust roots and returns a Broker.
func New(cfg Config) (*Broker, error) {
	if cfg.Policy == nil {
		return nil, errors.New("broker: no policy")
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	v, err := evidence.NewVerifier(&cfg.Policy.Attestation, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	key, signer, err := newTokenSigner()
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{
		cfg: cfg, log: cfg.Logger, verifier: v, tokenKey: key, signer: signer,
		sessions: newSessions(cfg.Now, cfg.NonceTTL, cfg.AttestedTTL, cfg.MaxSessions),
		store:    &store{files: cfg.Policy.Resources},
	}, nil
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
	return nil
}

// Handler returns the HTTP handler serving /kbs/v0/.
func (b *Broker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /kbs/v0/auth", b.auth)
	mux.HandleFunc("POST /kbs/v0/attest", b.attest)
	mux.HandleFunc("GET /kbs/v0/resource/{repo}/{type}/{tag}", b.resource)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.refuse(w, r, http.StatusNotFound, "InvalidRequestPath", "request path "+r.URL.Path+" is invalid", nil)
	})
	return http.MaxBytesHandler(mux, maxBody)
}
