package broker_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/cvminit/cvminit/cmd/keybroker/evidence"
	"github.com/cvminit/cvminit/cmd/snpemu/emu"
)

func TestReleaseToAllowedLaunch(t *testing.T) {
	f := newFixture(t, nil)
	got, err := f.client().GetResource(context.Background(), reporter{srv: newEmulator(t, emu.Config{})}, "default/disk/root")
	if err != nil {
		t.Fatalf("GetResource: %v\nbroker log:\n%s", err, f.logs)
	}
	defer got.Wipe()
	if !bytes.Equal(got.Bytes(), f.secret) {
		t.Fatalf("released %d bytes that are not the stored secret", got.Len())
	}
	if !strings.Contains(f.logs.String(), "resource released") {
		t.Errorf("release not logged:\n%s", f.logs)
	}
	if strings.Contains(f.logs.String(), string(f.secret)) {
		t.Errorf("secret in the broker log")
	}
}

// TestRefusals drives the real client against the broker with evidence that
// must be refused, each for its own logged reason, with nothing released.
func TestRefusals(t *testing.T) {
	vmpl1 := uint32(1)
	staleCRL := writeCRL(t, time.Now().Add(-time.Minute), false)
	revokedCRL := writeCRL(t, time.Now().Add(time.Hour), true)
	flip := func(off int) func([]byte) { return func(r []byte) { r[off] ^= 0x01 } }
	cases := []struct {
		name     string
		emu      emu.Config
		tamper   func([]byte)
		policy   func(*broker.PolicyFile)
		resource string // default: default/disk/root
		reason   error
	}{
		{name: "digest not allowed", emu: emu.Config{Measurement: [48]byte{1, 2, 3}}, reason: evidence.ErrMeasurement},
		{name: "debug policy bit", emu: emu.Config{Debug: true}, reason: evidence.ErrDebug},
		{name: "migration agent", emu: emu.Config{MigrationAgent: true}, reason: evidence.ErrMigrationAgent},
		{name: "vmpl 1", emu: emu.Config{ForceVMPL: &vmpl1}, reason: evidence.ErrVMPL},
		{name: "tcb below minimum", policy: func(p *broker.PolicyFile) { p.Attestation.MinTCB.Microcode = 255 },
			reason: evidence.ErrTCB},
		{name: "untrusted chain", policy: func(p *broker.PolicyFile) {
			p.Attestation.ExtraRoots = nil
			p.Attestation.TrustAMDRoots = true
		}, reason: evidence.ErrUntrustedRoot},
		{name: "flipped bit in measurement", tamper: flip(0x90), reason: evidence.ErrSignature},
		{name: "flipped bit in policy", tamper: flip(0x08), reason: evidence.ErrSignature},
		{name: "flipped bit in signature", tamper: flip(0x2A0), reason: evidence.ErrSignature},
		{name: "SMT forbidden", policy: func(p *broker.PolicyFile) { p.Attestation.AllowSMT = false },
			reason: evidence.ErrSMT},
		{name: "host data pinned", policy: func(p *broker.PolicyFile) { p.Attestation.HostData = strings.Repeat("ab", 32) },
			reason: evidence.ErrHostData},
		{name: "stale CRL", policy: func(p *broker.PolicyFile) {
			p.Attestation.InsecureSkipRevocation, p.Attestation.CRLs = false, []string{staleCRL}
		}, reason: evidence.ErrRevocation},
		{name: "ASK revoked", policy: func(p *broker.PolicyFile) {
			p.Attestation.InsecureSkipRevocation, p.Attestation.CRLs = false, []string{revokedCRL}
		}, reason: evidence.ErrRevoked},
		{name: "unknown resource", resource: "default/disk/other", reason: broker.ErrUnknownResource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.policy)
			r := reporter{srv: newEmulator(t, tc.emu), tamper: tc.tamper}
			name := tc.resource
			if name == "" {
				name = "default/disk/root"
			}
			got, err := f.client().GetResource(context.Background(), r, name)
			if err == nil {
				got.Wipe()
				t.Fatal("secret released")
			}
			if !errors.Is(err, kbs.ErrRefused) {
				t.Errorf("client error = %v, want ErrRefused", err)
			}
			want := evidence.Reason(tc.reason)
			if want == "internal_error" {
				want = tc.reason.Error()
			}
			if !strings.Contains(f.logs.String(), want) {
				t.Errorf("broker log lacks reason %q:\n%s", want, f.logs)
			}
			f.assertAudited(`"outcome":"refused"`)
			f.assertNothingReleased()
		})
	}
}

// rawSession runs /auth and returns the session cookie header and nonce.
func rawSession(t testing.TB, f *fixture) (cookie, nonce string) {
	t.Helper()
	resp, err := f.srv.Client().Post(f.srv.URL+kbs.PathAuth, "application/json",
		strings.NewReader(`{"version":"0.4.0","tee":"snp","extra-params":""}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ch kbs.Challenge
	if err := jsonDecode(resp, &ch); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Set-Cookie"), ch.Nonce
}

// attestBody builds a genuine attestation for nonce from the emulator.
func attestBody(t *testing.T, nonce string) []byte {
	t.Helper()
	_, jwk, err := kbs.NewEphemeralKey()
	if err != nil {
		t.Fatal(err)
	}
	rd, err := kbs.ReportData(nonce, jwk)
	if err != nil {
		t.Fatal(err)
	}
	rep, table, err := newEmulator(t, emu.Config{}).Report(rd, 0)
	if err != nil {
		t.Fatal(err)
	}
	return marshalAttestation(t, nonce, jwk, rep, table)
}

func TestReplayedNonceRefused(t *testing.T) {
	f := newFixture(t, nil)
	cookie, nonce := rawSession(t, f)
	body := attestBody(t, nonce)
	if code := post(t, f, kbs.PathAttest, cookie, body); code != 200 {
		t.Fatalf("first attest: %d\n%s", code, f.logs)
	}
	if code := post(t, f, kbs.PathAttest, cookie, body); code != 401 {
		t.Fatalf("replayed attest in the same session: %d, want 401", code)
	}
	if !strings.Contains(f.logs.String(), broker.ErrNonceUsed.Error()) {
		t.Errorf("log lacks %q:\n%s", broker.ErrNonceUsed, f.logs)
	}
	other, _ := rawSession(t, f) // the same evidence in a new session binds the old nonce
	if code := post(t, f, kbs.PathAttest, other, body); code != 401 {
		t.Fatalf("replayed evidence in a new session: %d, want 401", code)
	}
	f.assertNothingReleased()
}

// TestMismatchedBindingRefused relays a genuine report that binds the session
// nonce and one key while claiming another key: the broker must not seal the
// secret to a key the report does not bind.
func TestMismatchedBindingRefused(t *testing.T) {
	f := newFixture(t, nil)
	cookie, nonce := rawSession(t, f)
	_, bound, _ := kbs.NewEphemeralKey()
	_, claimed, _ := kbs.NewEphemeralKey()
	rd, err := kbs.ReportData(nonce, bound)
	if err != nil {
		t.Fatal(err)
	}
	rep, table, err := newEmulator(t, emu.Config{}).Report(rd, 0)
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, f, kbs.PathAttest, cookie, marshalAttestation(t, nonce, claimed, rep, table)); code != 401 {
		t.Fatalf("attest with a key the report does not bind: %d, want 401", code)
	}
	if want := evidence.Reason(evidence.ErrReportData); !strings.Contains(f.logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, f.logs)
	}
	f.assertNothingReleased()
}

// TestGuestRefusesForeignReportData: an emulator (host) that answers with a
// report for other REPORT_DATA is caught by the client before anything is sent.
func TestGuestRefusesForeignReportData(t *testing.T) {
	f := newFixture(t, nil)
	r := reporter{srv: newEmulator(t, emu.Config{WrongReportData: true})}
	if got, err := f.client().GetResource(context.Background(), r, "default/disk/root"); err == nil {
		got.Wipe()
		t.Fatal("secret released")
	}
	f.assertNothingReleased()
}

func TestExpiredNonceRefused(t *testing.T) {
	f := newFixture(t, nil)
	cookie, nonce := rawSession(t, f)
	body := attestBody(t, nonce)
	f.advance(broker.DefaultNonceTTL + time.Second)
	if code := post(t, f, kbs.PathAttest, cookie, body); code != 401 {
		t.Fatalf("attest after nonce expiry: %d, want 401", code)
	}
	if !strings.Contains(f.logs.String(), broker.ErrSessionExpired.Error()) {
		t.Errorf("log lacks %q:\n%s", broker.ErrSessionExpired, f.logs)
	}
	f.assertNothingReleased()
}

func TestResourceNeedsAttestation(t *testing.T) {
	f := newFixture(t, nil)
	cookie, _ := rawSession(t, f)
	if code := get(t, f, kbs.PathResource+"default/disk/root", cookie, ""); code != 401 {
		t.Fatalf("resource before attestation: %d, want 401", code)
	}
	if code := get(t, f, kbs.PathResource+"default/disk/root", "", "Bearer not-a-token"); code != 401 {
		t.Fatalf("resource with a forged token: %d, want 401", code)
	}
	f.assertNothingReleased()
}

func TestProtocolVersionAndTee(t *testing.T) {
	f := newFixture(t, nil)
	for _, body := range []string{`{"version":"0.3.0","tee":"snp","extra-params":""}`,
		`{"version":"0.4.0","tee":"tdx","extra-params":""}`, `{"version":"0.4.0"`, `{"bogus":1}`} {
		if code := post(t, f, kbs.PathAuth, "", []byte(body)); code != 401 {
			t.Errorf("auth %s: %d, want 401", body, code)
		}
	}
	if code := get(t, f, "/kbs/v0/nothing", "", ""); code != 404 {
		t.Errorf("unknown path: %d, want 404", code)
	}
}

// TestLogsHideSessionCookie: the session cookie is a bearer credential, so the
// broker's log names sessions by a digest only.
func TestLogsHideSessionCookie(t *testing.T) {
	f := newFixture(t, nil)
	cookie, nonce := rawSession(t, f)
	if code := post(t, f, kbs.PathAttest, cookie, attestBody(t, nonce)); code != 200 {
		t.Fatalf("attest: %d\n%s", code, f.logs)
	}
	id := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], kbs.SessionCookie+"=")
	if len(id) < 16 || strings.Contains(f.logs.String(), id) {
		t.Fatalf("session id %q in the broker log:\n%s", id, f.logs)
	}
}

// TestCurrentCRL: with revocation checked against a current CRL of the
// chain's ARK that revokes nothing, the secret is released.
func TestCurrentCRL(t *testing.T) {
	crl := writeCRL(t, time.Now().Add(time.Hour), false)
	f := newFixture(t, func(p *broker.PolicyFile) {
		p.Attestation.InsecureSkipRevocation, p.Attestation.CRLs = false, []string{crl}
	})
	got, err := f.client().GetResource(context.Background(), reporter{srv: newEmulator(t, emu.Config{})}, "default/disk/root")
	if err != nil {
		t.Fatalf("GetResource: %v\n%s", err, f.logs)
	}
	got.Wipe()
}
