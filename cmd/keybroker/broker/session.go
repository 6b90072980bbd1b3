package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

// Session errors; each maps to a refusal the guest sees as 401.
var (
	ErrNoSession      = errors.New("no such session")
	ErrSessionExpired = errors.New("session expired")
	ErrNonceUsed      = errors.New("nonce already used")
	ErrNotAttested    = errors.New("session not attested")
	ErrTooManyOpen    = errors.New("too many open sessions")
	ErrReleased       = errors.New("resource already released in this session")
)

// session is one RCAR exchange: a nonce handed out by /auth, consumed by
// exactly one /attest, then (on success) what that attestation established.
type session struct {
	nonce    string
	expires  time.Time
	consumed bool
	grant    *grant // nil until /attest accepted the evidence
}

// grant is what a successful attestation gives a session: the key resources
// are sealed to, the evidence that earned it, and the resources released so
// far (each at most once per session, hence once per nonce).
type grant struct {
	teeKey   kbs.JWK
	result   *evidence.Result
	released map[string]bool
}

// sessions holds the open sessions. Nonces live nonceTTL; an attested session
// lives attestedTTL from its attestation. Expired sessions are refused at once
// and dropped from memory at the next sweep: when the table is full, or at
// most sweepEvery after the last one.
type sessions struct {
	mu          sync.Mutex
	m           map[string]*session
	now         func() time.Time
	nonceTTL    time.Duration
	attestedTTL time.Duration
	max         int
	lastSweep   time.Time
}

// sweepEvery bounds how long an expired session stays in memory while the
// table is not full; sweeping on every open would cost O(sessions) each time.
const sweepEvery = time.Second

func newSessions(now func() time.Time, nonceTTL, attestedTTL time.Duration, max int) *sessions {
	return &sessions{m: map[string]*session{}, now: now, nonceTTL: nonceTTL, attestedTTL: attestedTTL, max: max}
}

// open creates a session with a fresh 32-byte nonce and returns its id and nonce.
func (s *sessions) open() (id, nonce string, err error) {
	var n [32]byte
	var i [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(i[:]); err != nil {
		return "", "", err
	}
	id, nonce = hex.EncodeToString(i[:]), base64.StdEncoding.EncodeToString(n[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); len(s.m) >= s.max || now.Sub(s.lastSweep) >= sweepEvery || now.Before(s.lastSweep) {
		s.gc()
		s.lastSweep = now
	}
	if len(s.m) >= s.max {
		return "", "", ErrTooManyOpen
	}
	s.m[id] = &session{nonce: nonce, expires: s.now().Add(s.nonceTTL)}
	return id, nonce, nil
}

// consume marks the nonce of session id used and returns it. It fails when the
// session is unknown, expired or its nonce was consumed before, so a report can
// be presented at most once.
func (s *sessions) consume(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, err := s.live(id)
	if err != nil {
		return "", err
	}
	if ss.consumed {
		return "", ErrNonceUsed
	}
	ss.consumed = true
	return ss.nonce, nil
}

// attest records a successful attestation: the key resources are sealed to
// and the evidence's result.
func (s *sessions) attest(id string, key kbs.JWK, res *evidence.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok {
		ss.grant = &grant{teeKey: key, result: res, released: map[string]bool{}}
		ss.expires = s.now().Add(s.attestedTTL)
	}
}

// claim marks resource name released in session id and returns the
// session's tee key and evidence. It refuses a session that is not attested
// and a resource already claimed in it, so two requests, even concurrent
// ones, never both receive a secret.
func (s *sessions) claim(id, name string) (kbs.JWK, *evidence.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, err := s.live(id)
	if err != nil {
		return kbs.JWK{}, nil, err
	}
	g := ss.grant
	if g == nil {
		return kbs.JWK{}, nil, ErrNotAttested
	}
	if g.released[name] {
		return kbs.JWK{}, g.result, ErrReleased
	}
	g.released[name] = true
	return g.teeKey, g.result, nil
}

// result returns the evidence of an attested session, or nil.
func (s *sessions) result(id string) *evidence.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.m[id]; ok && ss.grant != nil {
		return ss.grant.result
	}
	return nil
}

// count returns the number of sessions held in memory.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *sessions) live(id string) (*session, error) {
	ss, ok := s.m[id]
	if !ok {
		return nil, ErrNoSession
	}
	if !s.now().Before(ss.expires) {
		delete(s.m, id)
		return nil, ErrSessionExpired
	}
	return ss, nil
}

// gc drops expired sessions; the caller holds mu.
func (s *sessions) gc() {
	now := s.now()
	for id, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, id)
		}
	}
}
