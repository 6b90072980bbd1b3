package broker_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

// attested runs /auth and a genuine /attest and returns the cookie and token.
func attested(t *testing.T, f *fixture) (cookie, token string) {
	t.Helper()
	cookie, nonce := rawSession(t, f)
	req, _ := http.NewRequest("POST", f.srv.URL+kbs.PathAttest, bytes.NewReader(attestBody(t, nonce)))
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ar kbs.AttestationResponse
	if err := jsonDecode(resp, &ar); err != nil || resp.StatusCode != 200 || ar.Token == "" {
		t.Fatalf("attest: %d %v\n%s", resp.StatusCode, err, f.logs)
	}
	return cookie, ar.Token
}

// TestReleasedOncePerSession: one attestation (one nonce) releases each
// resource once, whether asked with the cookie or the token.
func TestReleasedOncePerSession(t *testing.T) {
	f := newFixture(t, nil)
	path := kbs.PathResource + "default/disk/root"
	cookie, token := attested(t, f)
	if code := get(t, f, path, cookie, ""); code != 200 {
		t.Fatalf("first release: %d\n%s", code, f.logs)
	}
	if code := get(t, f, path, cookie, ""); code != 401 {
		t.Errorf("second release with the cookie: %d, want 401", code)
	}
	if code := get(t, f, path, "", "Bearer "+token); code != 401 {
		t.Errorf("second release with the token: %d, want 401", code)
	}
	f.assertAudited(`"reason":"already_released"`)
	if n := strings.Count(f.audit.String(), `"outcome":"released"`); n != 1 {
		t.Errorf("%d releases on record, want 1", n)
	}
	_, token = attested(t, f) // a new attestation, a new release
	if code := get(t, f, path, "", "Bearer "+token); code != 200 {
		t.Errorf("release with a fresh session's token: %d", code)
	}
}

// TestResourceAllowsItsMeasurementsOnly: a measurement that may attest (it
// is allowed for one resource) gets no other resource.
func TestResourceAllowsItsMeasurementsOnly(t *testing.T) {
	for _, global := range []bool{false, true} {
		f := newFixture(t, func(p *broker.PolicyFile) {
			if global {
				p.Attestation.AllowedMeasurements = []string{hex.EncodeToString(testMeasurement[:])}
			}
		})
		other := [48]byte{0xbe, 0xef}
		if err := f.store.Add("default/disk/other", []byte("other-secret"), []string{hex.EncodeToString(other[:])}); err != nil {
			t.Fatal(err)
		}
		r := reporter{srv: newEmulator(t, emu.Config{})}
		got, err := f.client().GetResource(context.Background(), r, "default/disk/other")
		if global != (err == nil) {
			t.Fatalf("global=%v: GetResource err = %v", global, err)
		}
		if err == nil {
			got.Wipe()
			continue
		}
		f.assertAudited(`"reason":"measurement_not_allowed_for_resource"`)
		if strings.Contains(f.audit.String(), `"outcome":"released"`) {
			t.Errorf("released:\n%s", f.audit)
		}
	}
}

// TestAuditRecord: a release is on record with the evidence it rested on.
func TestAuditRecord(t *testing.T) {
	f := newFixture(t, nil)
	got, err := f.client().GetResource(context.Background(), reporter{srv: newEmulator(t, emu.Config{})}, "default/disk/root")
	if err != nil {
		t.Fatal(err)
	}
	got.Wipe()
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(f.audit.String()), "\n") {
		var d broker.Decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		events = append(events, d.Event+":"+d.Outcome)
		if d.Client != "127.0.0.1" || d.Time.IsZero() || d.Session == "" || d.Status != 200 {
			t.Errorf("audit record lacks client, time, session or status: %s", line)
		}
		if d.Event == "resource" && (d.Resource != "default/disk/root" || d.Measurement != hex.EncodeToString(testMeasurement[:]) ||
			len(d.ChipID) != 128 || d.ReportedTCB == nil || d.Product != "Milan" || d.Signer == "") {
			t.Errorf("release record incomplete: %s", line)
		}
	}
	if strings.Join(events, " ") != "auth:accepted attest:accepted resource:released" {
		t.Errorf("audit events %v", events)
	}
	f.assertNothingOnRecordLeaks()
}

// assertNothingOnRecordLeaks: the secret is in neither log.
func (f *fixture) assertNothingOnRecordLeaks() {
	f.t.Helper()
	for _, enc := range []string{string(f.secret), hex.EncodeToString(f.secret)} {
		if strings.Contains(f.audit.String(), enc) || strings.Contains(f.logs.String(), enc) {
			f.t.Errorf("secret in a log")
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestUnrecordedReleaseRefused: a release the audit log cannot record does
// not happen.
func TestUnrecordedReleaseRefused(t *testing.T) {
	f := newFixtureConfig(t, nil, func(c *broker.Config) { c.Audit = failingWriter{} })
	r := reporter{srv: newEmulator(t, emu.Config{})}
	if got, err := f.client().GetResource(context.Background(), r, "default/disk/root"); err == nil {
		got.Wipe()
		t.Fatal("released without an audit record")
	}
	f.assertNothingReleased()
}

// TestReloadKeepsSessions: SIGHUP's Reload keeps attested sessions, applies
// the new policy to new attestations, and a bad policy changes nothing.
func TestReloadKeepsSessions(t *testing.T) {
	f := newFixture(t, nil)
	cookie, _ := attested(t, f)
	strict, err := broker.ParsePolicy([]byte(strings.Replace(testPolicy(), "microcode: 0", "microcode: 255", 1)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.broker.Reload(strict); err != nil {
		t.Fatal(err)
	}
	bad := *strict
	bad.Attestation.ExtraRoots = []string{"/nonexistent/chain.pem"}
	if err := f.broker.Reload(&bad); err == nil {
		t.Fatal("reload with a missing root accepted")
	}
	if code := get(t, f, kbs.PathResource+"default/disk/root", cookie, ""); code != 200 {
		t.Errorf("session attested before the reload: %d, want 200", code)
	}
	_, err = f.client().GetResource(context.Background(), reporter{srv: newEmulator(t, emu.Config{})}, "default/disk/root")
	if err == nil || !strings.Contains(f.logs.String(), evidence.Reason(evidence.ErrTCB)) {
		t.Errorf("new attestation under the stricter policy: err %v", err)
	}
	metrics := scrape(t, f)
	for _, want := range []string{`keybroker_policy_reloads_total{result="ok"} 1`, `keybroker_policy_reloads_total{result="error"} 1`,
		`keybroker_decisions_total{event="resource",outcome="released",reason=""} 1`,
		`keybroker_decisions_total{event="attest",outcome="refused",reason="tcb_not_acceptable"} 1`,
		`keybroker_policy_insecure_options 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, f *fixture) string {
	t.Helper()
	rec := httptest.NewRecorder()
	f.broker.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, nil)
	if code := get(t, f, "/healthz", "", ""); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
}

// TestRateLimited: a client over its burst gets 429 and the refusal is on record.
func TestRateLimited(t *testing.T) {
	f := newFixtureConfig(t, nil, func(c *broker.Config) { c.Rate, c.Burst = 0.001, 2 })
	body := []byte(`{"version":"0.4.0","tee":"snp","extra-params":""}`)
	var codes []int
	for range 3 {
		codes = append(codes, post(t, f, kbs.PathAuth, "", body))
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != http.StatusTooManyRequests {
		t.Errorf("status codes %v, want [200 200 429]", codes)
	}
	f.assertAudited(`"reason":"rate_limited"`)
}
