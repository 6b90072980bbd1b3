//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/tpm"
)

// testTPMMeasured (issue 7) boots with a TPM 2.0 (swtpm): cvminit measures
// the boot; the PCRs the confidential OS reads from sysfs equal what
// `cvmctl measure --pcrs` predicts from the image, the command line and the
// disk payload, and cvminit's event log, as the OS finds it in /run,
// replays to the same values.
func testTPMMeasured(t *testing.T, e *Env) {
	r := boot(t, e, "tpm", BootOptions{TPM: true})
	st := wantOK(t, r)
	wantOSUp(t, e, r)
	if st.TPM != "measured" {
		t.Errorf("status line says tpm=%q, want measured", st.TPM)
	}
	out, err := runTool(context.Background(), "", e.Bin.Cvmctl, "measure", "--pcrs", "--initrd", e.Initrd,
		"--append", e.Opts.Cmdline, "--payload", e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, l := range strings.Fields(string(out)) {
		if k, v, ok := strings.Cut(l, "="); ok {
			want[strings.ToUpper(k)] = strings.ToLower(v)
		}
	}
	got := map[string]string{}
	for _, l := range lineTexts(r.Lines) {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, PCRPrefix) {
			got[k] = strings.ToLower(v)
		}
	}
	for _, p := range []string{"PCR11", "PCR12", "PCR15"} {
		if got[p] == "" || got[p] != want[p] {
			t.Errorf("%s in the guest %q, cvmctl measure --pcrs predicts %q", p, got[p], want[p])
		}
	}
	events, err := tpm.ParseLog(bytes.NewReader(eventLog(t, r.Raw)))
	if err != nil {
		t.Fatalf("event log: %v", err)
	}
	for pcr, v := range tpm.Replay(events) {
		if p := PCRPrefix + strconv.Itoa(pcr); got[p] != hex.EncodeToString(v[:]) {
			t.Errorf("the event log replays %s to %x, the guest read %s", p, v, got[p])
		}
	}
}

// eventLog cuts the event log out of the serial output (between the OS's
// markers), with the console's CR LF line ends made LF again.
func eventLog(t *testing.T, raw []byte) []byte {
	t.Helper()
	_, rest, ok := bytes.Cut(raw, []byte(TPMLogBegin+"\r\n"))
	log, _, ok2 := bytes.Cut(rest, []byte(TPMLogEnd))
	if !ok || !ok2 {
		t.Fatal("the confidential OS printed no event log")
	}
	return bytes.ReplaceAll(log, []byte("\r\n"), []byte("\n"))
}
