package broker_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/cvminit/cvminit/agent/kbs"
)

func jsonDecode(resp *http.Response, v any) error {
	defer io.Copy(io.Discard, resp.Body)
	return json.NewDecoder(resp.Body).Decode(v)
}

func marshalAttestation(t testing.TB, nonce string, jwk kbs.JWK, report, table []byte) []byte {
	t.Helper()
	certs, err := kbs.ParseCertTable(table)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := kbs.EncodeSNPEvidence(report, certs)
	if err != nil {
		t.Fatal(err)
	}
	comp, err := json.Marshal(kbs.CompositeEvidence{PrimaryEvidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(kbs.Attestation{RuntimeData: kbs.RuntimeData{Nonce: nonce, TeePubKey: jwk}, TeeEvidence: comp})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t testing.TB, f *fixture, path, cookie string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return send(t, f, req, cookie, "")
}

func get(t testing.TB, f *fixture, path, cookie, auth string) int {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, f, req, cookie, auth)
}

func send(t testing.TB, f *fixture, req *http.Request, cookie, auth string) int {
	t.Helper()
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) // lets the connection be reused
	resp.Body.Close()
	return resp.StatusCode
}
