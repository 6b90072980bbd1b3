package broker

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limitClock is a settable clock for limiter tests.
type limitClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *limitClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *limitClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimitClock() *limitClock { return &limitClock{t: time.Unix(1e9, 0)} }

// allowed counts how many of n requests from client are admitted.
func allowed(l *limiter, client string, n int) int {
	got := 0
	for range n {
		if l.allow(client) {
			got++
		}
	}
	return got
}

func TestLimiterBurstRefusalRefill(t *testing.T) {
	c := newLimitClock()
	l := newLimiter(2, 3, 10, c.now) // 2/s, burst 3
	if got := allowed(l, "192.0.2.1", 5); got != 3 {
		t.Fatalf("burst: %d of 5 admitted, want 3", got)
	}
	c.advance(499 * time.Millisecond)
	if l.allow("192.0.2.1") {
		t.Fatal("admitted before a token was refilled")
	}
	c.advance(time.Millisecond)
	if got := allowed(l, "192.0.2.1", 3); got != 1 {
		t.Fatalf("after 0.5s at 2/s: %d admitted, want 1", got)
	}
	c.advance(time.Hour)
	if got := allowed(l, "192.0.2.1", 10); got != 3 {
		t.Fatalf("after a long pause: %d admitted, want the burst of 3", got)
	}
}

func TestLimiterPerClient(t *testing.T) {
	c := newLimitClock()
	l := newLimiter(1, 2, 10, c.now)
	if got := allowed(l, "192.0.2.1", 10); got != 2 {
		t.Fatalf("client A: %d admitted, want 2", got)
	}
	if got := allowed(l, "192.0.2.2", 10); got != 2 {
		t.Fatalf("client B after A exhausted its bucket: %d admitted, want 2", got)
	}
	if l.allow("192.0.2.1") {
		t.Fatal("client A admitted again without refill")
	}
}

func TestLimiterTableBound(t *testing.T) {
	c := newLimitClock()
	l := newLimiter(1, 2, 2, c.now) // 1/s, burst 2, two clients
	if !l.allow("a") || !l.allow("b") {
		t.Fatal("first two clients refused")
	}
	if l.allow("c") {
		t.Fatal("third client admitted while the table is full of busy clients")
	}
	if n := len(l.clients); n != 2 {
		t.Fatalf("table holds %d clients, want at most 2", n)
	}
	if !l.allow("a") {
		t.Fatal("known client refused while the table is full")
	}
	c.advance(time.Second) // b is full again, a (two tokens used) is not
	if !l.allow("c") {
		t.Fatal("new client refused although b's bucket is full again")
	}
	if _, ok := l.clients["b"]; ok || len(l.clients) != 2 {
		t.Fatalf("after sweep: clients %v, want a and c", slices.Collect(maps.Keys(l.clients)))
	}
	if got := allowed(l, "a", 3); got != 1 {
		t.Fatalf("busy client a: %d admitted, want its 1 refilled token (a reset bucket would give 2)", got)
	}
}

// TestLimiterSweepThrottled checks that a full table of busy clients is not
// scanned for every refused newcomer.
func TestLimiterSweepThrottled(t *testing.T) {
	c := newLimitClock()
	l := newLimiter(1, 1, 1, c.now) // one token a second: sweeps at most once a second
	l.allow("a")
	c.advance(500 * time.Millisecond)
	if l.allow("b") {
		t.Fatal("b admitted into a table full of a busy client")
	}
	c.advance(500 * time.Millisecond) // a is full again, but the last sweep was 0.5s ago
	if l.allow("b") {
		t.Fatal("b admitted: the table was swept twice within one token interval")
	}
	c.advance(500 * time.Millisecond)
	if !l.allow("b") {
		t.Fatal("b refused after a's bucket refilled and a sweep was due")
	}
}

func TestLimiterDisabled(t *testing.T) {
	for _, r := range []float64{0, -1} {
		l := newLimiter(r, 1, 1, newLimitClock().now)
		for i := range 100 {
			if !l.allow(clientIP("192.0.2.1:1")) || !l.allow("192.0.2."+string(rune('a'+i%26))) {
				t.Fatalf("rate %v: request %d refused, want limiting disabled", r, i)
			}
		}
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := newLimiter(1, 50, 4, newLimitClock().now) // frozen clock: exactly the burst passes
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { n.Add(int64(allowed(l, "192.0.2.1", 20))) })
	}
	wg.Wait()
	if n.Load() != 50 {
		t.Fatalf("%d of 160 concurrent requests admitted, want the burst of 50", n.Load())
	}
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:4711":          "192.0.2.1",
		"[2001:db8::1]:443":       "2001:db8::1",
		"[::ffff:192.0.2.1]:4711": "192.0.2.1",
		"192.0.2.1":               "192.0.2.1",
		"[fe80::1%eth0]:80":       "fe80::1%eth0",
		"pipe":                    "pipe",
		"":                        "",
	} {
		if got := clientIP(in); got != want {
			t.Errorf("clientIP(%q) = %q, want %q", in, got, want)
		}
	}
}
