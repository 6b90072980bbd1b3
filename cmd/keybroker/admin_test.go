package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/cmd/keybroker/store"
)

const adminCanary = "CANARY-5e1f-never-print-me"

var (
	adminM1 = strings.Repeat("ab", 48)
	adminM2 = strings.Repeat("cd", 48)
	adminM3 = strings.Repeat("01", 48)
	errAny  = errors.New("any non-usage error")
)

type adminCase struct {
	name    string
	cmd     string // "resource" or "measurement"
	args    []string
	stdin   string
	wantErr error  // nil, errUsage, flag.ErrHelp, a store sentinel or errAny
	wantOut string // substring of stdout (or of stderr for -h)
}

func adminRun(c adminCase) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	if c.cmd == "resource" {
		err = resourceCmd(c.args, strings.NewReader(c.stdin), &out, &errOut)
	} else {
		err = measurementCmd(c.args, &out, &errOut)
	}
	return out.String(), errOut.String(), err
}

func checkAdminErr(t *testing.T, c adminCase, err error) {
	t.Helper()
	switch {
	case c.wantErr == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", c.name, err)
	case c.wantErr == errAny && (err == nil || errors.Is(err, errUsage)):
		t.Fatalf("%s: err %v, want a non-usage error", c.name, err)
	case c.wantErr != nil && c.wantErr != errAny && !errors.Is(err, c.wantErr):
		t.Fatalf("%s: err %v, want %v", c.name, err, c.wantErr)
	case err != nil && strings.Contains(err.Error(), "\n"):
		t.Fatalf("%s: error spans lines: %q", c.name, err)
	}
}

// TestAdminCommands runs a sequence of good and bad invocations against one
// store; every output and error is checked for the canary secret.
func TestAdminCommands(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "store")
	file := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := file("secret", []byte(adminCanary+"-1"))
	rotated := file("rotated", []byte(adminCanary+"-2"))
	empty := file("empty", nil)
	big := file("big", bytes.Repeat([]byte(adminCanary), store.MaxSecret/len(adminCanary)+1))
	st, p := []string{"--store", dir}, []string{"--path", "default/disk/root"}
	cat := slices.Concat[[]string]
	cases := []adminCase{
		{"add", "resource", cat([]string{"add"}, st, p, []string{"--secret-file", secret, "--measurement", adminM1, "--measurement", strings.ToUpper(adminM2)}), "", nil, "added default/disk/root with 2 allowed measurement(s)"},
		{"add duplicate", "resource", cat([]string{"add"}, st, p, []string{"--secret-file", secret}), "", store.ErrExists, ""},
		{"add from stdin", "resource", cat([]string{"add"}, st, []string{"--path", "default/cfg/x", "--secret-file", "-"}), adminCanary + "-stdin", nil, "added default/cfg/x with 0 allowed measurement(s)"},
		{"list", "resource", cat([]string{"list"}, st), "", nil, "default/disk/root\t2\t" + adminM1 + "," + adminM2 + "\t"},
		{"list shows resource without measurements", "resource", cat([]string{"list"}, st), "", nil, "default/cfg/x\t0\t-\t"},
		{"rotate", "resource", cat([]string{"rotate"}, st, p, []string{"--secret-file", rotated}), "", nil, "rotated default/disk/root"},
		{"rotate unknown", "resource", cat([]string{"rotate"}, st, []string{"--path", "a/b/c", "--secret-file", rotated}), "", store.ErrNotFound, ""},
		{"rotate empty file", "resource", cat([]string{"rotate"}, st, p, []string{"--secret-file", empty}), "", errAny, ""},
		{"rotate too big", "resource", cat([]string{"rotate"}, st, p, []string{"--secret-file", big}), "", errAny, ""},
		{"rotate missing file", "resource", cat([]string{"rotate"}, st, p, []string{"--secret-file", filepath.Join(tmp, "nope")}), "", errAny, ""},
		{"allow", "measurement", cat([]string{"allow"}, st, p, []string{strings.ToUpper(adminM3)}), "", nil, "allowed " + adminM3 + " for default/disk/root"},
		{"allow again", "measurement", cat([]string{"allow"}, st, p, []string{adminM3}), "", store.ErrAllowed, ""},
		{"allow hex first", "measurement", cat([]string{"allow", strings.Repeat("02", 48)}, st, p), "", nil, "allowed"},
		{"revoke", "measurement", cat([]string{"revoke"}, st, p, []string{adminM1}), "", nil, "revoked " + adminM1},
		{"revoke again", "measurement", cat([]string{"revoke"}, st, p, []string{adminM1}), "", store.ErrNotAllowed, ""},
		{"allow unknown resource", "measurement", cat([]string{"allow"}, st, []string{"--path", "a/b/c", adminM1}), "", store.ErrNotFound, ""},
		{"remove", "resource", cat([]string{"remove"}, st, []string{"--path", "default/cfg/x"}), "", nil, "removed default/cfg/x"},
		{"remove again", "resource", cat([]string{"remove"}, st, []string{"--path", "default/cfg/x"}), "", store.ErrNotFound, ""},
		{"no sub-command", "resource", nil, "", errUsage, ""},
		{"unknown sub-command", "resource", []string{"delete"}, "", errUsage, ""},
		{"measurement unknown sub-command", "measurement", []string{"grant"}, "", errUsage, ""},
		{"missing store", "resource", cat([]string{"add"}, p, []string{"--secret-file", secret}), "", errUsage, ""},
		{"missing path", "resource", cat([]string{"add"}, st, []string{"--secret-file", secret}), "", errUsage, ""},
		{"missing secret file", "resource", cat([]string{"add"}, st, []string{"--path", "n/e/w"}), "", errUsage, ""},
		{"bad path", "resource", cat([]string{"add"}, st, []string{"--path", "../etc/passwd", "--secret-file", secret}), "", errUsage, ""},
		{"bad measurement flag", "resource", cat([]string{"add"}, st, []string{"--path", "n/e/w", "--secret-file", secret, "--measurement", "xyz"}), "", errUsage, ""},
		{"secret on argv refused", "resource", cat([]string{"add"}, st, []string{"--path", "n/e/w", "--secret", adminCanary}), "", errUsage, ""},
		{"stray argument", "resource", cat([]string{"remove"}, st, p, []string{"extra"}), "", errUsage, ""},
		{"list without store", "resource", []string{"list"}, "", errUsage, ""},
		{"measurement missing hex", "measurement", cat([]string{"allow"}, st, p), "", errUsage, ""},
		{"measurement two hex", "measurement", cat([]string{"allow"}, st, p, []string{adminM1, adminM2}), "", errUsage, ""},
		{"measurement bad hex", "measurement", cat([]string{"revoke"}, st, p, []string{adminM1[:90]}), "", errUsage, ""},
		{"measurement missing path", "measurement", cat([]string{"allow"}, st, []string{adminM1}), "", errUsage, ""},
		{"resource help", "resource", []string{"-h"}, "", flag.ErrHelp, "add     --path"},
		{"add help", "resource", []string{"add", "-h"}, "", flag.ErrHelp, "-secret-file"},
		{"list help", "resource", []string{"list", "-h"}, "", flag.ErrHelp, "-store"},
		{"measurement help", "measurement", []string{"revoke", "-h"}, "", flag.ErrHelp, "-path"},
	}
	for _, c := range cases {
		out, errOut, err := adminRun(c)
		checkAdminErr(t, c, err)
		shown := out
		if c.wantErr == flag.ErrHelp {
			shown = errOut
		}
		if !strings.Contains(shown, c.wantOut) {
			t.Errorf("%s: output %q lacks %q", c.name, shown, c.wantOut)
		}
		if strings.Contains(out+errOut+errString(err), adminCanary) {
			t.Fatalf("%s: the secret appeared in the output or error", c.name)
		}
	}
	checkAdminStore(t, dir)
}

// checkAdminStore checks the store the sequence above should have left.
func checkAdminStore(t *testing.T, dir string) {
	t.Helper()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	want := []string{adminM2, adminM3, strings.Repeat("02", 48)}
	if len(list) != 1 || list[0].Path != "default/disk/root" || strings.Join(list[0].Measurements, " ") != strings.Join(want, " ") {
		t.Fatalf("store holds %+v", list)
	}
	got, err := s.Secret("default/disk/root")
	if err != nil || string(got) != adminCanary+"-2" {
		t.Fatalf("secret after rotate: %v", err)
	}
}

func TestAdminSecretSizeLimit(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "store")
	exact := filepath.Join(tmp, "exact")
	if err := os.WriteFile(exact, bytes.Repeat([]byte{7}, store.MaxSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"add", "--store", dir, "--path", "a/b/c", "--secret-file", exact}
	if err := resourceCmd(args, nil, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatalf("secret of exactly %d bytes: %v", store.MaxSecret, err)
	}
	args = []string{"add", "--store", dir, "--path", "a/b/d", "--secret-file", "-"}
	over := bytes.NewReader(make([]byte, store.MaxSecret+1))
	if err := resourceCmd(args, over, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized stdin: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
