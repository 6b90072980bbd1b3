package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	m1 = strings.Repeat("ab", 48)
	m2 = strings.Repeat("cd", 48)
	m3 = strings.Repeat("01", 48)
	t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
)

// newStore opens a fresh store whose clock reads t0.
func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return t0 }
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func mustAdd(t *testing.T, s *Store, path, secret string, ms ...string) {
	t.Helper()
	if err := s.Add(path, []byte(secret), ms); err != nil {
		t.Fatal(err)
	}
}

func wantSecret(t *testing.T, s *Store, path, want string) {
	t.Helper()
	got, err := s.Secret(path)
	if err != nil || string(got) != want {
		t.Fatalf("Secret(%s) = %q, %v; want %q", path, got, err, want)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddListIndex(t *testing.T) {
	s, _ := newStore(t)
	mustAdd(t, s, "default/disk/root", "root-key", m1, strings.ToUpper(m2))
	mustAdd(t, s, "other/cfg/x.json", "cfg", m1, m3)
	mustAdd(t, s, "a/b/none", "lonely")
	wantSecret(t, s, "default/disk/root", "root-key")
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []Resource{
		{Path: "a/b/none", Measurements: []string{}, Updated: t0},
		{Path: "default/disk/root", Measurements: []string{m1, m2}, Updated: t0},
		{Path: "other/cfg/x.json", Measurements: []string{m1, m3}, Updated: t0},
	}
	if len(list) != len(want) {
		t.Fatalf("List = %+v", list)
	}
	for i := range want {
		if list[i].Path != want[i].Path || !slices.Equal(list[i].Measurements, want[i].Measurements) || !list[i].Updated.Equal(t0) {
			t.Errorf("List[%d] = %+v, want %+v", i, list[i], want[i])
		}
	}
	x, err := s.Index()
	if err != nil {
		t.Fatal(err)
	}
	if !x.Has("a/b/none") || x.Has("a/b/other") {
		t.Error("Has is wrong")
	}
	if got := x.Measurements("default/disk/root"); len(got) != 2 || !bytes.Equal(got[0], unhex(t, m1)) || !bytes.Equal(got[1], unhex(t, m2)) {
		t.Errorf("Measurements = %x", got)
	}
	if got := x.Measurements("a/b/none"); len(got) != 0 {
		t.Errorf("Measurements of a resource without any = %x", got)
	}
	all := x.AllMeasurements()
	if len(all) != 3 {
		t.Fatalf("AllMeasurements has %d entries, want 3 distinct", len(all))
	}
	for _, m := range []string{m1, m2, m3} {
		if !slices.ContainsFunc(all, func(b []byte) bool { return bytes.Equal(b, unhex(t, m)) }) {
			t.Errorf("AllMeasurements lacks %s", m[:8])
		}
	}
	x.Measurements("default/disk/root")[0][0] ^= 0xff // callers get copies
	if got := x.Measurements("default/disk/root"); !bytes.Equal(got[0], unhex(t, m1)) {
		t.Error("Measurements returned shared memory")
	}
}

func TestRotate(t *testing.T) {
	s, _ := newStore(t)
	mustAdd(t, s, "r/t/k", "old", m1)
	later := t0.Add(time.Hour)
	s.now = func() time.Time { return later }
	if err := s.Rotate("r/t/k", []byte("new")); err != nil {
		t.Fatal(err)
	}
	wantSecret(t, s, "r/t/k", "new")
	list, _ := s.List()
	if !slices.Equal(list[0].Measurements, []string{m1}) || !list[0].Updated.Equal(later) {
		t.Errorf("after rotate: %+v", list[0])
	}
}

func TestRemove(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "gone", m1)
	mustAdd(t, s, "r/t/stay", "here", m1)
	if err := s.Remove("r/t/k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret("r/t/k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Secret after Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets/r/t/k")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secret file survived Remove: %v", err)
	}
	wantSecret(t, s, "r/t/stay", "here")
	mustAdd(t, s, "r/t/k", "again")
	wantSecret(t, s, "r/t/k", "again")
}

func TestAllowRevoke(t *testing.T) {
	s, _ := newStore(t)
	mustAdd(t, s, "r/t/k", "s", m1)
	steps := []struct {
		op      func(p, m string) error
		m       string
		wantErr error
		want    []string
	}{
		{s.Allow, strings.ToUpper(m2), nil, []string{m1, m2}},
		{s.Allow, m2, ErrAllowed, []string{m1, m2}},
		{s.Allow, strings.ToUpper(m1), ErrAllowed, []string{m1, m2}},
		{s.Revoke, m1, nil, []string{m2}},
		{s.Revoke, m1, ErrNotAllowed, []string{m2}},
		{s.Revoke, strings.ToUpper(m2), nil, []string{}},
		{s.Allow, m3, nil, []string{m3}},
	}
	for i, st := range steps {
		if err := st.op("r/t/k", st.m); !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
		}
		list, _ := s.List()
		if !slices.Equal(list[0].Measurements, st.want) {
			t.Fatalf("step %d: measurements %v, want %v", i, list[0].Measurements, st.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/k", "kept", m1)
	before, _ := os.ReadFile(filepath.Join(dir, indexName))
	ok := []byte("x")
	cases := map[string]struct {
		err  error
		want error
	}{
		"add dup":             {s.Add("r/t/k", ok, nil), ErrExists},
		"add empty secret":    {s.Add("r/t/n", nil, nil), ErrBadSecret},
		"add big secret":      {s.Add("r/t/n", make([]byte, MaxSecret+1), nil), ErrBadSecret},
		"add bad hex":         {s.Add("r/t/n", ok, []string{m1[:95] + "g"}), ErrBadMeasurement},
		"add short hex":       {s.Add("r/t/n", ok, []string{m1[:94]}), ErrBadMeasurement},
		"add dup measurement": {s.Add("r/t/n", ok, []string{m1, strings.ToUpper(m1)}), ErrBadMeasurement},
		"add two segments":    {s.Add("r/t", ok, nil), ErrBadPath},
		"add four segments":   {s.Add("r/t/k/l", ok, nil), ErrBadPath},
		"add dotdot":          {s.Add("r/../k", ok, nil), ErrBadPath},
		"add dot":             {s.Add("./t/k", ok, nil), ErrBadPath},
		"add absolute":        {s.Add("/t/k", ok, nil), ErrBadPath},
		"add tilde":           {s.Add("r/t/k~", ok, nil), ErrBadPath},
		"rotate unknown":      {s.Rotate("r/t/n", ok), ErrNotFound},
		"rotate empty":        {s.Rotate("r/t/k", []byte{}), ErrBadSecret},
		"rotate big":          {s.Rotate("r/t/k", make([]byte, MaxSecret+1)), ErrBadSecret},
		"rotate bad path":     {s.Rotate("r/t/k/", ok), ErrBadPath},
		"remove unknown":      {s.Remove("r/t/n"), ErrNotFound},
		"remove bad path":     {s.Remove("r/t/.."), ErrBadPath},
		"allow unknown":       {s.Allow("r/t/n", m2), ErrNotFound},
		"allow bad hex":       {s.Allow("r/t/k", "zz"), ErrBadMeasurement},
		"allow bad path":      {s.Allow("r t/k", m2), ErrBadPath},
		"revoke unknown":      {s.Revoke("r/t/n", m1), ErrNotFound},
		"revoke bad hex":      {s.Revoke("r/t/k", m1+"00"), ErrBadMeasurement},
		"revoke bad path":     {s.Revoke("", m1), ErrBadPath},
		"secret unknown":      {secretErr(s, "r/t/n"), ErrNotFound},
		"secret bad path":     {secretErr(s, "r/t/../../index.json"), ErrBadPath},
	}
	for name, c := range cases {
		if !errors.Is(c.err, c.want) || strings.Contains(c.err.Error(), "\n") {
			t.Errorf("%s: err %v, want %v on one line", name, c.err, c.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, indexName))
	if !bytes.Equal(before, after) {
		t.Error("a refused operation changed the index")
	}
	wantSecret(t, s, "r/t/k", "kept")
	if err := s.Add("r/t/max", make([]byte, MaxSecret), nil); err != nil {
		t.Errorf("secret of exactly MaxSecret bytes: %v", err)
	}
}

func secretErr(s *Store, path string) error {
	_, err := s.Secret(path)
	return err
}

func TestValidatePath(t *testing.T) {
	for _, p := range []string{"default/disk/root", "a.b/c_d/e-f.1", "A/B/..c"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "a/b", "a/b/c/d", "a//c", "a/b/", "/a/b", "a/./c", "a/../c", "a/b/c d", "a/b/c%2f", "a/b/\x00", "a/b/é"} {
		if err := ValidatePath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("%q accepted (%v)", p, err)
		}
	}
}

func TestOrphanSecretUnreachableThenOverwritten(t *testing.T) {
	s, dir := newStore(t)
	orphan := filepath.Join(dir, "secrets/r/t/k")
	if err := os.MkdirAll(filepath.Dir(orphan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, []byte("orphan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret("r/t/k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("orphan secret reachable: %v", err)
	}
	mustAdd(t, s, "r/t/k", "fresh", m1)
	wantSecret(t, s, "r/t/k", "fresh")
}

func TestSecretRefusesSymlinkAndOversizedFile(t *testing.T) {
	s, dir := newStore(t)
	mustAdd(t, s, "r/t/link", "x")
	mustAdd(t, s, "r/t/big", "x")
	mustAdd(t, s, "r/t/empty", "x")
	target := filepath.Join(dir, "secrets/r/t/")
	os.Remove(target + "/link")
	if err := os.Symlink(filepath.Join(dir, indexName), target+"/link"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target+"/big", make([]byte, MaxSecret+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target+"/empty", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"r/t/link", "r/t/big", "r/t/empty"} {
		if b, err := s.Secret(p); err == nil {
			t.Errorf("Secret(%s) = %d bytes, want an error", p, len(b))
		}
	}
}
