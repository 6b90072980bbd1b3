package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// canaryForms are the ways a key could show up in text.
func canaryForms(key []byte) map[string]string {
	return map[string]string{
		"raw":        string(key),
		"hex":        hex.EncodeToString(key),
		"HEX":        strings.ToUpper(hex.EncodeToString(key)),
		"base64":     base64.StdEncoding.EncodeToString(key),
		"base64url":  base64.RawURLEncoding.EncodeToString(key),
		"decimal":    strings.Trim(fmt.Sprint(key), "[]"),
		"raw prefix": string(key[:12]),
		"hex prefix": hex.EncodeToString(key[:12]),
	}
}

func TestCanaryNeverLogged(t *testing.T) {
	canary := []byte("CANARY\x00\x01\x02\xfe\xffsecret-disk-key-material!!")
	scenarios := map[string]func(h *harness){
		"happy":        func(*harness) {},
		"unlock fails": func(h *harness) { h.f.unlockErr = errors.New("passphrase does not match") },
		"mount fails":  func(h *harness) { h.f.mountErr = map[string]error{"/newroot": errors.New("EINVAL")} },
		"switch fails": func(h *harness) { h.f.switchErr = errors.New("ENOEXEC") },
	}
	for name, setup := range scenarios {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.cmdline = "cvminit.log=debug"
			h.f.key = canary
			setup(h)
			_ = h.run()
			if !h.f.called("unlock /dev/vda root-crypt key=" + fmt.Sprint(len(canary))) {
				t.Fatalf("the canary never reached the unlocker: %v", h.f.hardwareCalls())
			}
			out := h.kmsg.String() + h.console.String()
			if !strings.Contains(out, "disk key released") {
				t.Fatalf("debug log incomplete:\n%s", out)
			}
			for form, s := range canaryForms(canary) {
				if strings.Contains(out, s) {
					t.Errorf("canary key appears in the log as %s", form)
				}
			}
			checkNotMeasured(t, h, canary)
			checkWiped(t, h.f)
		})
	}
}

// checkNotMeasured: the TPM saw measurements, but never the key: no
// extension is the digest of any form of it, nor of the released payload,
// and the event log holds none of its forms.
func checkNotMeasured(t *testing.T, h *harness, key []byte) {
	t.Helper()
	ext := h.f.tpm.recorded()
	if len(ext) < 4 {
		t.Fatalf("%d extensions: the boot was not measured", len(ext))
	}
	log := h.f.tpm.logBytes()
	forms := canaryForms(key)
	forms["payload"] = string(payloadJSON(key, testUUID, h.f.sealedID, h.f.verity))
	for form, s := range forms {
		d := sha256.Sum256([]byte(s))
		for i, e := range ext {
			if e.Digest == d {
				t.Errorf("extension %d measures the key (%s)", i+1, form)
			}
		}
		if bytes.Contains(log, []byte(s)) {
			t.Errorf("event log holds the key as %s", form)
		}
	}
}
