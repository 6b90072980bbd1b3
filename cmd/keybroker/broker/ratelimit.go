package broker

// Per-client rate limiting: one token bucket (golang.org/x/time/rate) per
// client IP, in a table of bounded size so that a flood of source addresses
// cannot grow the broker's memory.

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxSweepGap bounds how long a new client may wait for a full table to be
// swept, however slow the refill rate.
const maxSweepGap = time.Minute

// limiter admits requests per client with a token bucket each. Its zero
// value is not usable; build one with newLimiter.
type limiter struct {
	limit    rate.Limit
	burst    int
	max      int
	now      func() time.Time
	sweepGap time.Duration // least time between two sweeps of a full table

	mu        sync.Mutex
	clients   map[string]*rate.Limiter
	nextSweep time.Time
}

// newLimiter allows each client perSecond requests on average and burst at
// once (at least 1), tracking at most maxClients (at least 1) clients.
// perSecond <= 0 disables limiting. now is the clock; nil means time.Now.
func newLimiter(perSecond float64, burst, maxClients int, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	l := &limiter{limit: rate.Limit(perSecond), burst: max(burst, 1), max: max(maxClients, 1), now: now}
	if perSecond > 0 {
		l.clients = make(map[string]*rate.Limiter)
		l.sweepGap = time.Duration(min(float64(time.Second)/perSecond, float64(maxSweepGap)))
	}
	return l
}

// allow reports whether client may make a request now, and if so takes a
// token from its bucket. A client not yet in a full table is refused.
func (l *limiter) allow(client string) bool {
	if l.clients == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	b, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= l.max {
			l.sweep(t)
		}
		if len(l.clients) >= l.max {
			return false
		}
		b = rate.NewLimiter(l.limit, l.burst)
		l.clients[client] = b
	}
	return b.AllowN(t, 1)
}

// sweep drops the buckets that are full again at t: a full bucket behaves
// exactly like a new one, so forgetting it loses nothing. A sweep costs a
// pass over the table, so it runs at most once per token interval; a flood of
// new clients against a full table of busy ones is refused cheaply.
func (l *limiter) sweep(t time.Time) {
	if t.Before(l.nextSweep) {
		return
	}
	l.nextSweep = t.Add(l.sweepGap)
	for c, b := range l.clients {
		if b.TokensAt(t) >= float64(l.burst) {
			delete(l.clients, c)
		}
	}
}

// clientIP returns the address part of an http.Request RemoteAddr
// ("192.0.2.1:4711", "[2001:db8::1]:4711"), with IPv4-mapped IPv6 addresses
// written as IPv4 so one client has one key. Input it cannot parse is
// returned unchanged.
func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().String()
	}
	return host
}
