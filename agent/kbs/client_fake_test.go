package kbs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// fakeBroker is a minimal KBS 0.4.0 server written for the tests from the
// protocol description: it checks the cookie, the nonce and the REPORT_DATA
// binding, and seals the secret to the key the evidence bound.
type fakeBroker struct {
	secret []byte
	// fail, if set, may replace the answer to the n-th call (1-based) of a
	// step ("auth", "attest", "resource") with an HTTP status.
	fail func(step string, n int) int

	mu       sync.Mutex
	calls    map[string]int
	sessions map[string]*fakeSession
	problems []string // protocol violations seen; the tests require none
}

type fakeSession struct {
	nonce    string
	key      *JWK
	certs    []Cert
	attested bool
}

func newFakeBroker(secret []byte) *fakeBroker {
	return &fakeBroker{secret: secret, calls: map[string]int{}, sessions: map[string]*fakeSession{}}
}

func (b *fakeBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	step := map[string]string{PathAuth: "auth", PathAttest: "attest"}[r.URL.Path]
	if strings.HasPrefix(r.URL.Path, PathResource) {
		step = "resource"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[step]++
	if b.fail != nil {
		if status := b.fail(step, b.calls[step]); status != 0 {
			writeJSON(w, status, ErrorInfo{Type: ErrorType("InjectedFailure"), Detail: fmt.Sprintf("injected %d\x1b[31m", status)})
			return
		}
	}
	var err error
	switch step {
	case "auth":
		err = b.auth(w, r)
	case "attest":
		err = b.attest(w, r)
	case "resource":
		err = b.resource(w, r)
	default:
		err = fmt.Errorf("unknown path %s", r.URL.Path)
	}
	if err != nil {
		b.problems = append(b.problems, step+": "+err.Error())
		writeJSON(w, http.StatusUnauthorized, ErrorInfo{Type: ErrorType("AttestationError"), Detail: err.Error()})
	}
}

func (b *fakeBroker) auth(w http.ResponseWriter, r *http.Request) error {
	var req Request
	if err := strictJSON(r, &req); err != nil {
		return err
	}
	if req.Version != "0.4.0" || req.Tee != "snp" || string(req.ExtraParams) != `""` || r.Method != http.MethodPost {
		return fmt.Errorf("bad request %+v", req)
	}
	nonce, id := make([]byte, 32), make([]byte, 16)
	_, _ = rand.Read(nonce)
	_, _ = rand.Read(id)
	s := &fakeSession{nonce: base64.StdEncoding.EncodeToString(nonce)}
	sid := fmt.Sprintf("%x", id)
	b.sessions[sid] = s
	http.SetCookie(w, &http.Cookie{Name: "kbs-session-id", Value: sid})
	writeJSON(w, http.StatusOK, map[string]string{"nonce": s.nonce, "extra-params": ""})
	return nil
}

func (b *fakeBroker) attest(w http.ResponseWriter, r *http.Request) error {
	s, err := b.session(r)
	if err != nil {
		return err
	}
	var att struct {
		InitData    json.RawMessage   `json:"init-data"`
		RuntimeData RuntimeData       `json:"runtime-data"`
		TeeEvidence CompositeEvidence `json:"tee-evidence"`
	}
	if err := strictJSON(r, &att); err != nil {
		return err
	}
	if string(att.InitData) != "null" || att.TeeEvidence.AdditionalEvidence != "" || att.RuntimeData.Nonce != s.nonce {
		return errors.New("init-data, additional_evidence or nonce wrong")
	}
	report, certs, err := DecodeSNPEvidence(att.TeeEvidence.PrimaryEvidence)
	if err != nil {
		return err
	}
	want, err := ReportData(s.nonce, att.RuntimeData.TeePubKey)
	if err != nil {
		return err
	}
	if !bytes.Equal(report[0x50:0x90], want[:]) {
		return errors.New("REPORT_DATA does not bind the nonce and tee-pubkey")
	}
	s.key, s.certs, s.attested = &att.RuntimeData.TeePubKey, certs, true
	writeJSON(w, http.StatusOK, AttestationResponse{Token: fakeToken})
	return nil
}

const fakeToken = "eyJhbGciOiJFUzI1NiJ9.TOKEN-CANARY.sig"

func (b *fakeBroker) resource(w http.ResponseWriter, r *http.Request) error {
	s, err := b.session(r)
	if err != nil {
		return err
	}
	if !s.attested || r.URL.Path != PathResource+"default/disk/root" {
		return errors.New("not attested or wrong path " + r.URL.Path)
	}
	j, err := Seal(*s.key, b.secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (b *fakeBroker) session(r *http.Request) (*fakeSession, error) {
	c, err := r.Cookie("kbs-session-id")
	if err != nil {
		return nil, err
	}
	s, ok := b.sessions[c.Value]
	if !ok {
		return nil, errors.New("unknown session")
	}
	return s, nil
}

func (b *fakeBroker) count(step string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[step]
}

func strictJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeReporter stands in for the security processor: a zero v3 report with
// reportData at 0x50, and a certificate table with one VCEK.
type fakeReporter struct {
	err   error
	wrong bool // return a report binding other data
}

func (f fakeReporter) GetEvidence(_ context.Context, rd [64]byte) ([]byte, []byte, error) {
	if f.err != nil {
		return nil, nil, f.err
	}
	report := make([]byte, 0x4A0)
	binary.LittleEndian.PutUint32(report, 3)
	copy(report[0x50:], rd[:])
	if f.wrong {
		report[0x50] ^= 1
	}
	return report, BuildCertTable([]Cert{{Type: CertTypeVCEK, DER: []byte("fake-vcek")}}), nil
}
