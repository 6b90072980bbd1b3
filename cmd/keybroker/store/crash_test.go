package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crashEnvDir   = "STORE_CRASH_HELPER_DIR"
	crashEnvRound = "STORE_CRASH_HELPER_ROUND"
	crashPath     = "crash/disk/key"
	crashWrites   = 100
)

// crashSecret is write i of round r: 4 KiB whose every byte depends on r and
// i, so a torn or mixed file matches no value.
func crashSecret(r, i int) []byte {
	b := make([]byte, 4096)
	copy(b, fmt.Sprintf("secret-%d-%03d\n", r, i))
	for k := 16; k < len(b); k++ {
		b[k] = byte(k*7 + i*131 + r*17)
	}
	return b
}

// TestCrashHelper is the child of TestCrashDurability: it rotates the secret
// crashWrites times and acknowledges each completed Rotate on stdout.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("helper process for TestCrashDurability")
	}
	var r int
	fmt.Sscan(os.Getenv(crashEnvRound), &r)
	s, err := Open(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := range crashWrites {
		if err := s.Rotate(crashPath, crashSecret(r, i)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("ok %d\n", i)
	}
	os.Exit(0)
}

// TestCrashDurability kills a writer with SIGKILL at random points and checks
// that the store then holds exactly one written value, in full, no older than
// the last acknowledged write, and that temporary files stay invisible.
func TestCrashDurability(t *testing.T) {
	s, dir := newStore(t)
	if err := s.Add(crashPath, crashSecret(-1, 0), []string{m1}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range 5 {
		killAfter := rng.IntN(40)
		last := crashRound(t, dir, round, killAfter, time.Duration(rng.IntN(1500))*time.Microsecond)
		checkCrashState(t, dir, round, last)
	}
	if err := s.Rotate(crashPath, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if temps := tempFiles(t, dir); len(temps) != 0 {
		t.Errorf("temporary files survived the next write: %v", temps)
	}
}

// crashRound runs the helper, kills it once it acknowledged write killAfter
// (plus a random delay), and returns the last acknowledged write.
func crashRound(t *testing.T, dir string, round, killAfter int, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, fmt.Sprintf("%s=%d", crashEnvRound, round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	last, killed, other := -1, false, []string{}
	for sc := bufio.NewScanner(out); sc.Scan(); {
		var i int
		if _, err := fmt.Sscanf(sc.Text(), "ok %d", &i); err != nil {
			other = append(other, sc.Text())
			continue
		}
		last = i // every line read, before or after the kill, was acknowledged
		if !killed && i >= killAfter {
			time.Sleep(delay)
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	cmd.Wait()
	t.Logf("round %d: killed after ack %d (+%v), last ack %d", round, killAfter, delay, last)
	if last < killAfter {
		t.Fatalf("round %d: helper stopped after %d writes: %q", round, last+1, other)
	}
	return last
}

func checkCrashState(t *testing.T, dir string, round, last int) {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("round %d: Open after crash: %v", round, err)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].Path != crashPath {
		t.Fatalf("round %d: List after crash = %+v, %v", round, list, err)
	}
	got, err := s.Secret(crashPath)
	if err != nil {
		t.Fatalf("round %d: Secret after crash: %v", round, err)
	}
	var r, j int
	if _, err := fmt.Sscanf(string(got), "secret-%d-%d\n", &r, &j); err != nil || r != round {
		t.Fatalf("round %d: secret header %q is not of this round", round, got[:16])
	}
	if !bytes.Equal(got, crashSecret(r, j)) {
		t.Fatalf("round %d: secret %d is torn or mixed", round, j)
	}
	if j < last {
		t.Fatalf("round %d: secret is write %d but write %d was acknowledged", round, j, last)
	}
	t.Logf("round %d: holds write %d; %d temporary files left behind", round, j, len(tempFiles(t, dir)))
	s.Close()
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		if strings.Contains(filepath.Base(p), tempMark) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
