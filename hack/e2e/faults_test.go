//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/klog"
)

// Guest configs of TestBrokerFaults (besides the pinned one): a bound of
// protocol runs below the default, so that the scenarios that exhaust it
// wait less; and a short broker.timeout for the one that waits it out.
const (
	faultAttempts   = 3
	faultKeyTimeout = 3 * time.Second
	faultDeadline   = 10 * time.Second
)

// TestBrokerFaults boots the guest against the real key broker behind a
// fault-injecting proxy (issue 8): each scenario asserts the final status
// (code and step), the time bounds, that the guest powered off without the
// OS, and from the proxy's counts that the fault was injected and the
// retries stayed within broker.attempts. A broker that never comes up is
// testBrokerNotRunning (TestBoot, scenario_test.go). The scenarios run one
// after the other: each boot keeps the 2 cores busy (TCG), and the longest
// wait (faultKeyTimeout) is shorter than a boot.
func TestBrokerFaults(t *testing.T) {
	e := requireEnv(t)
	vs := &faultVariants{e: e}
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *faultVariants)
	}{
		{"DownThenUp", testBrokerDownThenUp},
		{"Slow", testBrokerSlow},
		{"SlowerThanTimeout", testBrokerSlowerThanTimeout},
		{"FirstConnectionsDropped", testFirstConnectionsDropped},
		{"ConnectionsAlwaysDropped", func(t *testing.T, vs *faultVariants) { testBrokerAlwaysFails(t, vs, Drop) }},
		{"Always5xx", func(t *testing.T, vs *faultVariants) { testBrokerAlwaysFails(t, vs, Unavailable) }},
		{"GarbageAnswer", testGarbageAnswer},
		{"TruncatedJWE", testTruncatedJWE},
		{"Replay", testReplay},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, vs) })
	}
}

func pinned(vs *faultVariants, t *testing.T) *Env { return vs.get(t, "pinned", func(*Guest) {}) }

// Threat: the broker restarts while the guest boots; the guest must retry,
// not give up on the first refused connection.
func testBrokerDownThenUp(t *testing.T, vs *faultVariants) {
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-down-then-up")
	var (
		once     sync.Once
		mu       sync.Mutex
		p        *Proxy
		first    string
		startErr error
	)
	// Nothing listens on the pinned port until the guest's first attempt
	// failed: then the proxy (forwarding only) comes up.
	onLine := func(l Line) {
		if strings.Contains(l.Text, "kbs attempt failed") {
			once.Do(func() {
				px, err := StartProxy(g.config(ProxyConfig{}))
				mu.Lock()
				p, first, startErr = px, l.Text, err
				mu.Unlock()
			})
		}
	}
	r := g.boot(t, "fault-down-then-up", BootOptions{OnLine: onLine})
	mu.Lock()
	defer mu.Unlock()
	if p != nil {
		defer p.Close()
	}
	if startErr != nil || p == nil {
		t.Fatalf("the proxy did not start after a failed attempt (%v)", startErr)
	}
	if !strings.Contains(first, "attempt=1 ") || !strings.Contains(first, "connection refused") {
		t.Errorf("first failed attempt %q, want attempt 1 refused", first)
	}
	took := wantKeyOK(t, v, r)
	// One or more runs refused before the proxy listened; the next one got
	// the key.
	if f := failedAttempts(r); len(f) < 1 || len(f) >= config.DefaultAttempts || !slices.Equal(f, upTo(len(f))) {
		t.Errorf("failed attempts %v, want 1..n with n < %d", f, config.DefaultAttempts)
	}
	wantCounts(t, p, 1, 1, 1)
	g.wantReleases(t, 1)
	t.Logf("broker down then up: key step %v", took)
}

// Threat: a slow broker (or network); the guest must wait for it rather
// than fail, within broker.timeout.
func testBrokerSlow(t *testing.T, vs *faultVariants) {
	const delay = time.Second
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-slow")
	p := g.proxy(t, ProxyConfig{Delay: delay})
	r := g.boot(t, "fault-slow", BootOptions{})
	took := wantKeyOK(t, v, r)
	// Three answers, each held back: the happy path's key step takes
	// about 0.5 s.
	if took < 3*delay {
		t.Errorf("key step took %v, want at least %v (3 answers delayed %v)", took, 3*delay, delay)
	}
	wantCounts(t, p, 1, 1, 1)
	g.wantReleases(t, 1)
	t.Logf("slow broker (%v per answer): key step %v", delay, took)
}

// Threat: a broker (or host) that holds the guest's request forever; the
// guest must give up at broker.timeout.
func testBrokerSlowerThanTimeout(t *testing.T, vs *faultVariants) {
	v := vs.get(t, "timeout", func(g *Guest) { g.KeyTimeout, g.Deadline = faultKeyTimeout, faultDeadline })
	g := newFaultRig(t, v, "fault-slower-than-timeout")
	p := g.proxy(t, ProxyConfig{Delay: 10 * faultKeyTimeout})
	r := g.boot(t, "fault-slower-than-timeout", BootOptions{})
	took := wantKeyFail(t, v, r, klog.CodeBrokerUnreachable)
	if took < faultKeyTimeout {
		t.Errorf("key step gave up after %v, before broker.timeout %v", took, faultKeyTimeout)
	}
	if f := failedAttempts(r); !slices.Equal(f, upTo(1)) {
		t.Errorf("failed attempts %v, want [1]: the timeout ends the first run, no retry after it", f)
	}
	wantCounts(t, p, 1, 0, 0)
	g.wantReleases(t, 0)
}

// Threat: the host drops the first connections to the broker; the guest
// must retry with a new session and boot.
func testFirstConnectionsDropped(t *testing.T, vs *faultVariants) {
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-first-dropped")
	p := g.proxy(t, ProxyConfig{Fault: Drop, First: 2})
	r := g.boot(t, "fault-first-dropped", BootOptions{})
	took := wantKeyOK(t, v, r)
	if f := failedAttempts(r); !slices.Equal(f, upTo(2)) {
		t.Errorf("failed attempts %v, want [1 2] (the key came with the third)", f)
	}
	if took < 1500*time.Millisecond {
		t.Errorf("key step took %v, want at least the backoff of 0.5 s + 1 s", took)
	}
	wantCounts(t, p, 3, 1, 1)
	if p.Faulted() != 2 {
		t.Errorf("%d connections dropped, want 2", p.Faulted())
	}
	g.wantReleases(t, 1)
}

// Threat: a broker that never answers (connections dropped, or 503); the
// guest must give up after broker.attempts protocol runs.
func testBrokerAlwaysFails(t *testing.T, vs *faultVariants, fault Fault) {
	v := vs.get(t, "attempts", func(g *Guest) { g.Attempts = faultAttempts })
	name := map[Fault]string{Drop: "fault-always-dropped", Unavailable: "fault-always-5xx"}[fault]
	g := newFaultRig(t, v, name)
	p := g.proxy(t, ProxyConfig{Fault: fault})
	r := g.boot(t, name, BootOptions{})
	took := wantKeyFail(t, v, r, klog.CodeBrokerUnreachable)
	if took < 1500*time.Millisecond {
		t.Errorf("key step took %v, want at least the backoff of 0.5 s + 1 s", took)
	}
	if f := failedAttempts(r); !slices.Equal(f, upTo(faultAttempts)) {
		t.Errorf("failed attempts %v, want 1..%d (broker.attempts)", f, faultAttempts)
	}
	wantCounts(t, p, faultAttempts, 0, 0)
	if p.Faulted() != faultAttempts {
		t.Errorf("%d requests faulted, want %d", p.Faulted(), faultAttempts)
	}
	if a := g.audit(t); len(a) != 0 {
		t.Errorf("the broker saw requests: %v", a)
	}
}

// Threat: something that is not a KBS answers on the broker's address
// (with the broker's certificate); the guest must fail at once, not retry.
func testGarbageAnswer(t *testing.T, vs *faultVariants) {
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-garbage")
	p := g.proxy(t, ProxyConfig{Fault: Garbage})
	r := g.boot(t, "fault-garbage", BootOptions{})
	wantKeyFail(t, v, r, klog.CodeBrokerProtocol)
	wantNoRetry(t, r)
	wantCounts(t, p, 1, 0, 0)
	if a := g.audit(t); len(a) != 0 {
		t.Errorf("the broker saw requests: %v", a)
	}
}

// Threat: the released key is cut in transit; the guest must refuse the
// unusable JWE, and not ask again (each request is one more release).
func testTruncatedJWE(t *testing.T, vs *faultVariants) {
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-truncated-jwe")
	p := g.proxy(t, ProxyConfig{Fault: TruncateJWE})
	r := g.boot(t, "fault-truncated-jwe", BootOptions{})
	wantKeyFail(t, v, r, klog.CodeBrokerProtocol)
	wantNoRetry(t, r)
	wantCounts(t, p, 1, 1, 1)
	if p.Faulted() != 1 {
		t.Errorf("%d answers truncated, want 1", p.Faulted())
	}
	g.wantReleases(t, 1) // released by the broker, yet the guest did not boot
}

// Threat: the host records a successful boot's traffic and replays it: the
// broker's old answers to a later boot, and the guest's old requests to the
// broker. Neither may yield the key.
func testReplay(t *testing.T, vs *faultVariants) {
	v := pinned(vs, t)
	g := newFaultRig(t, v, "fault-record")
	p := g.proxy(t, ProxyConfig{})
	wantKeyOK(t, v, g.boot(t, "fault-record", BootOptions{}))
	p.Close()
	rec := p.Exchanges()
	wantCounts(t, p, 1, 1, 1)
	g.wantReleases(t, 1)
	seen := len(g.audit(t))

	// The old answers to a new boot: the JWE is sealed to the old boot's
	// ephemeral key.
	p = g.proxy(t, ProxyConfig{Fault: Replay, Recording: rec})
	r := g.boot(t, "fault-replay", BootOptions{})
	wantKeyFail(t, v, r, klog.CodeBrokerProtocol)
	wantNoRetry(t, r)
	wantCounts(t, p, 1, 1, 1)
	if p.Faulted() != 3 {
		t.Errorf("%d answers replayed, want 3", p.Faulted())
	}
	if n := len(g.audit(t)); n != seen {
		t.Errorf("the broker saw %d requests during the replayed boot, want none", n-seen)
	}

	// The old requests to the broker.
	replayRequests(t, g, rec)
	g.wantReleases(t, 1)
	want := []auditEntry{
		{"attest", "refused", "nonce_used", 401},           // old evidence, old session
		{"resource", "refused", "already_released", 401},   // old session cookie
		{"resource", "refused", "already_released", 401},   // old token
		{"auth", "accepted", "", 200},                      // a new session ...
		{"attest", "refused", "report_data_mismatch", 401}, // ... with the old evidence
		{"resource", "refused", "not_attested", 401},
	}
	if got := g.audit(t)[seen:]; !slices.Equal(got, want) {
		t.Errorf("audit of the replayed requests:\n%v\nwant\n%v", got, want)
	}
}

// replayRequests sends the recorded guest requests to the broker: the
// attestation and the resource request in their old session, the resource
// request with the old token, and the old evidence in a new session.
func replayRequests(t *testing.T, g *faultRig, rec []Exchange) {
	auth, attest := recorded(t, rec, kbs.PathAuth), recorded(t, rec, kbs.PathAttest)
	res := recorded(t, rec, kbs.PathResource+Resource)
	var tok kbs.AttestationResponse
	if err := json.Unmarshal(attest.RespBody, &tok); err != nil || tok.Token == "" {
		t.Fatalf("recorded attest answer %q holds no token (%v)", attest.RespBody, err)
	}
	bearer := http.Header{"Authorization": {"Bearer " + tok.Token}}
	if st, _ := g.resend(t, attest, nil); st != http.StatusUnauthorized {
		t.Errorf("replayed /attest: HTTP %d, want 401", st)
	}
	if st, _ := g.resend(t, res, nil); st != http.StatusUnauthorized {
		t.Errorf("replayed /resource: HTTP %d, want 401", st)
	}
	if st, _ := g.resend(t, res, bearer); st != http.StatusUnauthorized {
		t.Errorf("/resource with the recorded token: HTTP %d, want 401", st)
	}
	st, cookie := g.resend(t, auth, nil)
	if st != http.StatusOK || cookie == "" {
		t.Fatalf("replayed /auth: HTTP %d, cookie %q; want a new session", st, cookie)
	}
	fresh := attest.Header.Clone()
	fresh.Set("Cookie", kbs.SessionCookie+"="+cookie)
	if st, _ := g.resend(t, attest, fresh); st != http.StatusUnauthorized {
		t.Errorf("old evidence in a new session: HTTP %d, want 401", st)
	}
	if st, _ := g.resend(t, res, fresh); st != http.StatusUnauthorized {
		t.Errorf("/resource in the new session: HTTP %d, want 401", st)
	}
}
