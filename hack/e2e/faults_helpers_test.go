//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/klog"
)

// tcgSlack is what the bounds of the guest's own timers allow on top for
// the slowness of TCG on a loaded host (as testBrokerNotRunning).
const tcgSlack = 2 * time.Second

// faultVariants builds the repinned Envs of TestBrokerFaults on first
// use, one per guest config, each pinning a broker port of its own (where
// the proxy listens). Scenarios with the same config share one, in turn.
type faultVariants struct {
	e  *Env
	mu sync.Mutex
	m  map[string]*Env
}

func (fv *faultVariants) get(t *testing.T, name string, mutate func(*Guest)) *Env {
	t.Helper()
	fv.mu.Lock()
	defer fv.mu.Unlock()
	if v, ok := fv.m[name]; ok {
		return v
	}
	v, err := fv.e.Repin(context.Background(), "initramfs-fault-"+name, mutate)
	if err != nil {
		t.Fatalf("repin %s: %v", name, err)
	}
	if fv.m == nil {
		fv.m = map[string]*Env{}
	}
	fv.m[name] = v
	return v
}

// faultRig is one scenario: the real broker on a port of its own, its
// log and audit log in the scenario's boot directory (where boot() looks
// for leaks), and proxies in front of it on the pinned port v.Port.
type faultRig struct {
	v          *Env
	dir        string
	brokerPort int
}

func newFaultRig(t *testing.T, v *Env, name string) *faultRig {
	t.Helper()
	g := &faultRig{v: v, dir: v.path(filepath.Join("boots", name))}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if g.brokerPort, err = FreePort(); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(g.dir, "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	p, err := StartBroker(context.Background(), v.Bin, v.Policy, v.TLSDir, g.brokerPort,
		filepath.Join(g.dir, "audit.jsonl"), log)
	if err != nil {
		t.Fatalf("starting the broker: %v", err)
	}
	t.Cleanup(p.Stop)
	return g
}

// config completes c for this rig: the broker's TLS identity, the pinned
// port, the real broker.
func (g *faultRig) config(c ProxyConfig) ProxyConfig {
	c.TLSDir, c.Port, c.BrokerPort = g.v.TLSDir, g.v.Port, g.brokerPort
	return c
}

// proxy starts a proxy with c in front of the rig's broker until t ends.
func (g *faultRig) proxy(t *testing.T, c ProxyConfig) *Proxy {
	t.Helper()
	p, err := StartProxy(g.config(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// boot boots the rig's guest with no broker of the harness's own.
func (g *faultRig) boot(t *testing.T, name string, o BootOptions) *Result {
	t.Helper()
	o.NoBroker = true
	return boot(t, g.v, name, o)
}

// auditEntry is what the tests read of a line of the broker's audit log.
type auditEntry struct {
	Event, Outcome, Reason string
	Status                 int
}

func (g *faultRig) audit(t *testing.T) []auditEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "audit.jsonl"))
	if err != nil {
		t.Fatalf("broker audit log: %v", err)
	}
	var out []auditEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var a auditEntry
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, a)
	}
	return out
}

// wantReleases checks the number of key releases in the broker's audit log.
func (g *faultRig) wantReleases(t *testing.T, n int) {
	t.Helper()
	got := 0
	for _, a := range g.audit(t) {
		if a.Event == "resource" && a.Outcome == "released" {
			got++
		}
	}
	if got != n {
		t.Errorf("the broker's audit log shows %d key releases, want %d", got, n)
	}
}

// wantCounts checks that the proxy received exactly auth, attest and
// resource protocol requests and nothing else.
func wantCounts(t *testing.T, p *Proxy, auth, attest, resource int) {
	t.Helper()
	got := []int{p.Count(kbs.PathAuth), p.Count(kbs.PathAttest), p.Count(kbs.PathResource + Resource)}
	if got[0] != auth || got[1] != attest || got[2] != resource || len(p.Exchanges()) != auth+attest+resource {
		t.Errorf("proxy saw auth/attest/resource %v of %d requests, want %v", got, len(p.Exchanges()),
			[]int{auth, attest, resource})
	}
}

// keyStep returns the key step's result and duration, and checks the time
// bounds every boot keeps: the key step within broker.timeout and all steps
// within boot.deadline (each plus tcgSlack).
func keyStep(t *testing.T, v *Env, r *Result) (klog.StepResult, time.Duration) {
	t.Helper()
	key, ok := stepResult(r, "key")
	if !ok {
		t.Fatalf("no key step line")
	}
	took := time.Duration(key.MS) * time.Millisecond
	if lim := v.Opts.KeyTimeout + tcgSlack; took > lim {
		t.Errorf("key step took %v, want at most %v (broker.timeout %v)", took, lim, v.Opts.KeyTimeout)
	}
	var total time.Duration
	for _, s := range Steps(r.Lines) {
		total += time.Duration(s.MS) * time.Millisecond
	}
	if lim := v.Opts.Deadline + tcgSlack; total > lim {
		t.Errorf("steps took %v, want at most %v (boot.deadline %v)", total, lim, v.Opts.Deadline)
	}
	return key, took
}

// wantKeyOK checks a boot that got its key through the faults and came up.
func wantKeyOK(t *testing.T, v *Env, r *Result) time.Duration {
	t.Helper()
	wantOK(t, r)
	wantOSUp(t, v, r)
	_, took := keyStep(t, v, r)
	return took
}

// wantKeyFail checks a boot that failed in the key step with code: no OS,
// the time bounds, and the guest powered off within 10 s of its status line.
func wantKeyFail(t *testing.T, v *Env, r *Result, code klog.Code) time.Duration {
	t.Helper()
	_, line := wantFail(t, r, code, "key")
	wantNoOS(t, v, r)
	_, took := keyStep(t, v, r)
	if d := r.Elapsed - line.At; d > 10*time.Second {
		t.Errorf("guest powered off %v after its status line, want within 10s", d)
	}
	t.Logf("%s after %v of QEMU, key step %v", code, line.At.Round(time.Millisecond), took)
	return took
}

var failedLine = regexp.MustCompile(`kbs attempt failed attempt=(\d+) `)

// failedAttempts returns the numbers of the protocol runs that the guest
// says failed and were retried or gave up, in order, each once (the
// warnings go to the console directly; the kernel log's Info lines, such
// as the release, are lost to printk's rate limit).
func failedAttempts(r *Result) []int {
	var out []int
	for _, l := range r.Lines {
		if m := failedLine.FindStringSubmatch(l.Text); m != nil {
			n, _ := strconv.Atoi(m[1])
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// wantNoRetry checks that the guest reported no failed attempt: an
// unusable answer ends the key fetch at once.
func wantNoRetry(t *testing.T, r *Result) {
	t.Helper()
	if f := failedAttempts(r); len(f) != 0 {
		t.Errorf("the guest retried after attempts %v, want no retry", f)
	}
}

// upTo returns 1, ..., n.
func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// resend sends a recorded guest request to the broker itself, with header
// in place of the recorded headers when given, and returns the status and
// the answer's session cookie, if any.
func (g *faultRig) resend(t *testing.T, x Exchange, header http.Header) (int, string) {
	t.Helper()
	client, err := brokerClient(g.v.TLSDir)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	u := "https://127.0.0.1:" + strconv.Itoa(g.brokerPort) + x.Path
	req, err := http.NewRequest(x.Method, u, bytes.NewReader(x.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = x.Header.Clone()
	if header != nil {
		req.Header = header
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s to the broker: %v", x.Method, x.Path, err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == kbs.SessionCookie {
			return resp.StatusCode, c.Value
		}
	}
	return resp.StatusCode, ""
}

// recorded returns the recorded exchange for path.
func recorded(t *testing.T, rec []Exchange, path string) Exchange {
	t.Helper()
	for _, x := range rec {
		if x.Path == path {
			return x
		}
	}
	t.Fatalf("no %s in the recording", path)
	return Exchange{}
}
