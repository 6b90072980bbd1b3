package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenCertRefusals(t *testing.T) {
	caDir := newCA(t, "--days", "10")
	otherCA := newCA(t)
	mismatched := filepath.Join(t.TempDir(), "mismatched")
	copyFile(t, filepath.Join(caDir, "ca.pem"), filepath.Join(mismatched, "ca.pem"))
	copyFile(t, filepath.Join(otherCA, "ca-key.pem"), filepath.Join(mismatched, "ca-key.pem"))
	noKey := filepath.Join(t.TempDir(), "nokey")
	copyFile(t, filepath.Join(caDir, "ca.pem"), filepath.Join(noKey, "ca.pem"))
	leafDir := newCert(t, otherCA, "127.0.0.1")
	notCA := filepath.Join(t.TempDir(), "notca")
	copyFile(t, filepath.Join(leafDir, "server.pem"), filepath.Join(notCA, "ca.pem"))
	copyFile(t, filepath.Join(leafDir, "server-key.pem"), filepath.Join(notCA, "ca-key.pem"))

	tests := []struct {
		name, caDir, hosts, days, want string
		usage                          bool
	}{
		{"space in name", caDir, "a b", "1", `"a b"`, true},
		{"empty entry", caDir, "10.0.2.2,,broker.example.com", "1", `""`, true},
		{"empty list", caDir, " ", "1", `""`, true},
		{"bad label", caDir, "-bad.example.com", "1", "-bad.example.com", true},
		{"bad IP", caDir, "10.0.2.256", "1", "10.0.2.256", true},
		{"underscore", caDir, "my_host", "1", "my_host", true},
		{"zero days", caDir, "127.0.0.1", "0", "--days", true},
		{"negative days", caDir, "127.0.0.1", "-5", "--days", true},
		{"outlives CA", caDir, "127.0.0.1", "11", "after the CA", false},
		{"missing CA key", noKey, "127.0.0.1", "1", "ca-key.pem", false},
		{"mismatched key", mismatched, "127.0.0.1", "1", "does not match", false},
		{"not a CA", notCA, "127.0.0.1", "1", "not a CA", false},
		{"missing CA dir", filepath.Join(t.TempDir(), "none"), "127.0.0.1", "1", "ca.pem", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tls")
			_, err := pkiRun(t, genCert, "--ca-dir", tc.caDir, "--out", out, "--hosts", tc.hosts, "--days", tc.days)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
			if errors.Is(err, errUsage) != tc.usage {
				t.Errorf("errors.Is(err, errUsage) = %v, want %v", !tc.usage, tc.usage)
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused gen-cert created %s", out)
			}
		})
	}
	if _, err := pkiRun(t, genCert, "--ca-dir", caDir, "--out", filepath.Join(t.TempDir(), "ok"), "--hosts", "127.0.0.1", "--days", "9"); err != nil {
		t.Errorf("leaf inside the CA's validity refused: %v", err)
	}
}

func TestGenCARefusals(t *testing.T) {
	for _, args := range [][]string{{"--days", "0"}, {"--days", "-1"}, {"--name", " "}, {"extra"}} {
		dir := filepath.Join(t.TempDir(), "ca")
		_, err := pkiRun(t, genCA, append([]string{"--dir", dir}, args...)...)
		if !errors.Is(err, errUsage) {
			t.Errorf("gen-ca %v: got %v, want usage error", args, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("refused gen-ca %v created %s", args, dir)
		}
	}
	if _, err := pkiRun(t, genCA); !errors.Is(err, errUsage) {
		t.Errorf("gen-ca without --dir: got %v, want usage error", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o700)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}
