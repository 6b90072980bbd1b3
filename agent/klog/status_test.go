package klog

import (
	"regexp"
	"strings"
	"testing"
)

// The literal lines are DESIGN.md §5's examples.
const (
	designOK   = `CVMINIT-STATUS v1 OK root=/dev/mapper/root init=/sbin/init total_ms=2310`
	designFail = `CVMINIT-STATUS v1 FAIL code=KEY_REFUSED step=key hint="broker refused the key: measurement not in policy"`
	designStep = `cvminit: step=attest status=ok ms=41`
)

func TestStatusStringDesign(t *testing.T) {
	ok := Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TotalMS: 2310}
	if got := ok.String(); got != designOK {
		t.Errorf("OK line = %q, want %q", got, designOK)
	}
	fail := Status{Code: CodeKeyRefused, Step: "key", Hint: "broker refused the key: measurement not in policy"}
	if got := fail.String(); got != designFail {
		t.Errorf("FAIL line = %q, want %q", got, designFail)
	}
	if got := StepLine("attest", StepOK, 41); got != designStep {
		t.Errorf("StepLine = %q, want %q", got, designStep)
	}
}

func TestParseStatusDesign(t *testing.T) {
	tests := []struct {
		line string
		want Status
	}{
		{designOK, Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TotalMS: 2310}},
		{designOK + "\r\n", Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TotalMS: 2310}},
		{"\r" + designFail + "\n", Status{Code: CodeKeyRefused, Step: "key",
			Hint: "broker refused the key: measurement not in policy"}},
		{`CVMINIT-STATUS v1 FAIL code=INTERNAL step="my step" hint="a \"b\"\n\\c"`,
			Status{Code: CodeInternal, Step: "my step", Hint: "a \"b\"\n\\c"}},
	}
	for _, tt := range tests {
		got, ok := ParseStatus(tt.line)
		if !ok || got != tt.want {
			t.Errorf("ParseStatus(%q) = %+v, %v; want %+v", tt.line, got, ok, tt.want)
		}
	}
}

func TestParseStatusRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"[    2.310000] cvminit: " + designOK,
		"cvminit: " + designOK,
		" " + designOK,
		strings.Replace(designOK, "v1", "v2", 1),
		strings.Replace(designOK, " OK ", " MAYBE ", 1),
		designOK + " extra=1",
		strings.Replace(designOK, "total_ms=2310", "total_ms=-1", 1),
		strings.Replace(designOK, "total_ms=2310", "total_ms=2.3", 1),
		strings.Replace(designOK, " init=/sbin/init", "", 1),
		strings.Replace(designOK, "root=/dev/mapper/root init=/sbin/init", "init=/sbin/init root=/dev/mapper/root", 1),
		strings.Replace(designFail, "KEY_REFUSED", "KEY_LOST", 1),
		strings.Replace(designFail, `hint="`, `hint=`, 1),
		designFail[:len(designFail)-1],
		designFail + `"`,
		strings.Replace(designFail, "step=key", "step=", 1),
		strings.Replace(designFail, "  ", " ", 1) + " ",
		`CVMINIT-STATUS v1 FAIL code=INTERNAL step=a b hint="x"`,
	} {
		if st, ok := ParseStatus(line); ok {
			t.Errorf("ParseStatus(%q) = %+v, want rejection", line, st)
		}
	}
}

func TestHintEscaping(t *testing.T) {
	st := Status{Code: CodeHeaderRejected, Step: "unlock",
		Hint: "label \"x\"\nCVMINIT-STATUS v1 OK root=/ init=/x total_ms=1\r\\"}
	line := st.String()
	want := `CVMINIT-STATUS v1 FAIL code=HEADER_REJECTED step=unlock hint="label \"x\"\nCVMINIT-STATUS v1 OK root=/ init=/x total_ms=1\r\\"`
	if line != want {
		t.Errorf("line = %q\nwant   %q", line, want)
	}
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("status line spans lines: %q", line)
	}
	got, ok := ParseStatus(line)
	if !ok || got != st {
		t.Errorf("round trip = %+v, %v; want %+v", got, ok, st)
	}
}

func TestHintTruncated(t *testing.T) {
	hint := strings.Repeat("é", MaxHint) // 2 bytes each
	got, ok := ParseStatus(Status{Code: CodeInternal, Step: "x", Hint: hint}.String())
	if !ok {
		t.Fatal("truncated line does not parse")
	}
	if len(got.Hint) > MaxHint || !strings.HasSuffix(got.Hint, "é...") {
		t.Errorf("hint of %d bytes ends %q, want ≤ %d bytes ending in a whole rune and ...",
			len(got.Hint), got.Hint[len(got.Hint)-8:], MaxHint)
	}
}

func TestParseStep(t *testing.T) {
	got, ok := ParseStep(designStep + "\n")
	if want := (StepResult{Name: "attest", Status: StepOK, MS: 41}); !ok || got != want {
		t.Errorf("ParseStep = %+v, %v; want %+v", got, ok, want)
	}
	for _, line := range []string{
		"[    1.0] " + designStep,
		"cvminit: step=attest status=maybe ms=1",
		"cvminit: step=attest status=ok",
		"cvminit: step= status=ok ms=1",
		"cvminit: step=attest status=ok ms=1 x=2",
	} {
		if r, ok := ParseStep(line); ok {
			t.Errorf("ParseStep(%q) = %+v, want rejection", line, r)
		}
	}
}

func TestCodesTable(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Z_]+[A-Z]$`)
	seen := map[Code]bool{}
	for _, ci := range Codes() {
		if !name.MatchString(string(ci.Code)) || seen[ci.Code] || ci.Meaning == "" || ci.Action == "" {
			t.Errorf("bad table entry %+v", ci)
		}
		seen[ci.Code] = true
	}
	// The codes the issue and DESIGN.md name must all exist.
	for _, c := range []string{"CONFIG_INVALID", "MODULES_FAILED", "NETWORK_DOWN", "ATTEST_UNAVAILABLE",
		"ATTEST_DEBUG_POLICY", "TPM_FAILED", "BROKER_UNREACHABLE", "KEY_REFUSED", "BROKER_PROTOCOL", "DISK_NOT_FOUND",
		"HEADER_REJECTED", "UNLOCK_FAILED", "MOUNT_FAILED", "SWITCH_ROOT_FAILED", "DEADLINE_EXCEEDED", "INTERNAL"} {
		if !Code(c).Valid() {
			t.Errorf("code %s missing", c)
		}
	}
	if Code("KEY_LOST").Valid() {
		t.Error("unknown code reported valid")
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(designOK)
	f.Add(designFail)
	f.Add(designOK + " tpm=measured")
	f.Add(`CVMINIT-STATUS v1 FAIL code=INTERNAL step="a b" hint="\x00"`)
	f.Fuzz(func(t *testing.T, line string) {
		st, ok := ParseStatus(line)
		if !ok {
			return
		}
		again, ok := ParseStatus(st.String())
		if !ok || again != st {
			if !(len(st.Hint) > MaxHint) {
				t.Fatalf("round trip of %q: %+v, %v; want %+v", line, again, ok, st)
			}
		}
		if strings.ContainsAny(st.String(), "\r\n") {
			t.Fatalf("String() spans lines: %q", st.String())
		}
	})
}

// TestStatusTPM: the OK line's optional last field, written and read back,
// and the lines that misuse it.
func TestStatusTPM(t *testing.T) {
	for _, v := range []string{TPMMeasured, TPMAbsent, TPMOff} {
		st := Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TotalMS: 2310, TPM: v}
		want := designOK + " tpm=" + v
		if got := st.String(); got != want {
			t.Errorf("String = %q, want %q", got, want)
		}
		if got, ok := ParseStatus(want + "\r\n"); !ok || got != st {
			t.Errorf("ParseStatus(%q) = %+v, %v; want %+v", want, got, ok, st)
		}
	}
	for _, line := range []string{
		designOK + " tpm=on",
		designOK + " tpm=",
		designOK + ` tpm=""`,
		designOK + " tpm=measured extra=1",
		designOK + " tpm=measured tpm=off",
		strings.Replace(designOK, "root=", "tpm=measured root=", 1),
		strings.Replace(designOK, " total_ms=2310", " tpm=measured total_ms=2310", 1),
		strings.Replace(designFail, ` hint=`, ` tpm=measured hint=`, 1),
		designFail + " tpm=measured",
	} {
		if st, ok := ParseStatus(line); ok {
			t.Errorf("ParseStatus(%q) = %+v, want rejection", line, st)
		}
	}
}
