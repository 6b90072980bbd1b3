package broker_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/cmd/keybroker/broker"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestAttestationBodyForms sends the same genuine evidence in the canonical
// form clients write (decoded in one pass) and in other valid forms (decoded
// by encoding/json): both are judged alike, and a strictness violation is
// still refused with the same error variant as before.
func TestAttestationBodyForms(t *testing.T) {
	indent := func(b []byte) []byte {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte {
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("body lacks %s", old)
			}
			return bytes.Replace(b, []byte(old), []byte(new), 1)
		}
	}
	cases := []struct {
		name    string
		edit    func([]byte) []byte
		status  int
		variant string
	}{
		{"canonical", func(b []byte) []byte { return b }, 200, ""},
		{"indented", indent, 200, ""},
		{"escaped string", replace(`"cert_type":"VCEK"`, `"cert_type":"V\u0043EK"`), 200, ""},
		{"unknown tee-evidence member (lenient, as Trustee)", replace(`"additional_evidence":""`, `"additional_evidence":"","x":1`), 200, ""},
		{"member spelt in another case", replace(`"nonce"`, `"Nonce"`), 200, ""},
		{"unknown top-level member", replace(`"init-data":null`, `"init-data":null,"x":1`), 401, "SerdeError"},
		{"unknown runtime-data member", replace(`"tee-pubkey"`, `"x":1,"tee-pubkey"`), 401, "SerdeError"},
		{"unknown report member", replace(`"vmpl":0`, `"vmpl":0,"x":1`), 401, "AttestationError"},
		{"byte out of range", replace(`"measurement":[`, `"measurement":[256,`), 401, "AttestationError"},
		{"report member twice, last wins", replace(`"vmpl":0`, `"vmpl":1,"vmpl":0`), 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			cookie, nonce := rawSession(t, f)
			body := tc.edit(attestBody(t, nonce))
			status, info := postForInfo(t, f, cookie, body)
			if status != tc.status || tc.variant != "" && info.Type != kbs.ErrorType(tc.variant) {
				t.Fatalf("status %d %s, want %d %s\n%s", status, info.Type, tc.status, tc.variant, f.logs)
			}
			if tc.status == 200 {
				if code := get(t, f, kbs.PathResource+"default/disk/root", cookie, ""); code != 200 {
					t.Errorf("resource after attestation: %d", code)
				}
			} else {
				f.assertNothingReleased()
			}
		})
	}
}

func postForInfo(t *testing.T, f *fixture, cookie string, body []byte) (int, kbs.ErrorInfo) {
	t.Helper()
	req, err := http.NewRequest("POST", f.srv.URL+kbs.PathAttest, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info kbs.ErrorInfo
	if resp.StatusCode != 200 {
		if err := jsonDecode(resp, &info); err != nil || !strings.HasPrefix(info.Type, kbs.ErrorType("")) {
			t.Fatalf("error body: %v %+v", err, info)
		}
	}
	return resp.StatusCode, info
}

// TestBearerToken: the token /attest returns opens the resource without the
// session cookie, until it expires (go-jose allows jwt.DefaultLeeway of clock
// skew); another broker's token does not.
func TestBearerToken(t *testing.T) {
	f := newFixture(t, nil)
	other := newFixture(t, nil)
	token := func(f *fixture) string {
		cookie, nonce := rawSession(t, f)
		req, _ := http.NewRequest("POST", f.srv.URL+kbs.PathAttest, bytes.NewReader(attestBody(t, nonce)))
		req.Header.Set("Cookie", cookie)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ar kbs.AttestationResponse
		if err := jsonDecode(resp, &ar); err != nil || resp.StatusCode != 200 || strings.Count(ar.Token, ".") != 2 {
			t.Fatalf("attest: %d %v %q", resp.StatusCode, err, ar.Token)
		}
		resp.Body.Close()
		return ar.Token
	}
	tok, foreign := token(f), token(other)
	path := kbs.PathResource + "default/disk/root"
	if code := get(t, f, path, "", "Bearer "+tok); code != 200 {
		t.Fatalf("resource with the broker's token: %d\n%s", code, f.logs)
	}
	if code := get(t, f, path, "", "Bearer "+foreign); code != 401 {
		t.Errorf("resource with another broker's token: %d, want 401", code)
	}
	parts := strings.Split(tok, ".")
	otherParts := strings.Split(foreign, ".")
	for name, forged := range map[string]string{
		"other payload, own signature": parts[0] + "." + otherParts[1] + "." + parts[2],
		"unsigned":                     `eyJhbGciOiJub25lIn0.` + parts[1] + ".",
	} {
		if code := get(t, f, path, "", "Bearer "+forged); code != 401 {
			t.Errorf("resource with a token %s: %d, want 401", name, code)
		}
	}
	f.advance(broker.DefaultAttestedTTL + jwt.DefaultLeeway + time.Second)
	if code := get(t, f, path, "", "Bearer "+tok); code != 401 {
		t.Errorf("resource with an expired token: %d, want 401", code)
	}
}
