package broker

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSessionNonceSingleUse(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSessions(c.now, 30*time.Second, time.Minute, 10)
	id, nonce, err := s.open()
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(nonce); err != nil || len(raw) != 32 {
		t.Fatalf("nonce %q: want std base64 of 32 bytes (err %v)", nonce, err)
	}
	got, err := s.consume(id)
	if err != nil || got != nonce {
		t.Fatalf("consume = %q, %v; want %q", got, err, nonce)
	}
	if _, err := s.consume(id); !errors.Is(err, ErrNonceUsed) {
		t.Fatalf("second consume: %v, want ErrNonceUsed", err)
	}
	if _, _, err := s.claim(id, "a/b/c"); !errors.Is(err, ErrNotAttested) {
		t.Fatalf("claim before attest: %v, want ErrNotAttested", err)
	}
	res := &evidence.Result{Product: "Milan"}
	s.attest(id, kbs.JWK{Kty: "EC", X: "x"}, res)
	if k, r, err := s.claim(id, "a/b/c"); err != nil || k.X != "x" || r != res {
		t.Fatalf("claim after attest = %+v, %v, %v", k, r, err)
	}
	if _, _, err := s.claim(id, "a/b/c"); !errors.Is(err, ErrReleased) {
		t.Fatalf("second claim of a/b/c: %v, want ErrReleased", err)
	}
	if _, _, err := s.claim(id, "a/b/d"); err != nil {
		t.Fatalf("claim of another resource: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSessions(c.now, 30*time.Second, time.Minute, 10)
	id, _, _ := s.open()
	c.t = c.t.Add(30 * time.Second)
	if _, err := s.consume(id); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("consume after ttl: %v, want ErrSessionExpired", err)
	}
	if _, err := s.consume("nope"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("unknown session: %v, want ErrNoSession", err)
	}
}

func TestSessionCap(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSessions(c.now, time.Second, time.Minute, 2)
	for i := 0; i < 2; i++ {
		if _, _, err := s.open(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.open(); !errors.Is(err, ErrTooManyOpen) {
		t.Fatalf("third open: %v, want ErrTooManyOpen", err)
	}
	c.t = c.t.Add(2 * time.Second) // expired sessions make room
	if _, _, err := s.open(); err != nil {
		t.Fatalf("open after expiry: %v", err)
	}
}

// TestSessionSweep: expired sessions leave memory at the next sweep (at most
// sweepEvery apart), and are refused before that.
func TestSessionSweep(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	s := newSessions(c.now, 30*time.Second, time.Minute, 100)
	old, _, _ := s.open()
	for i := 0; i < 2; i++ {
		s.open()
	}
	c.t = c.t.Add(30 * time.Second)
	if _, err := s.consume(old); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("expired session: %v", err)
	}
	c.t = c.t.Add(sweepEvery)
	s.open()
	if n := len(s.m); n != 1 {
		t.Errorf("%d sessions in memory after a sweep, want 1", n)
	}
}
