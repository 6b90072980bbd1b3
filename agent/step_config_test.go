package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/klog"
)

// TestGoVariables: every variable the Go runtime may read is named, and
// the kernel's usual ones (and GO-less look-alikes) are not.
func TestGoVariables(t *testing.T) {
	env := []string{"HOME=/", "TERM=linux", "GODEBUG=tlsrsakex=1", "GOGC=off", "GOTRACEBACK=crash",
		"XGOGC=1", "go=1", "GOMAXPROCS"}
	want := []string{"GODEBUG", "GOGC", "GOTRACEBACK", "GOMAXPROCS"}
	if got := goVariables(env); !slices.Equal(got, want) {
		t.Errorf("goVariables = %v, want %v", got, want)
	}
	if got := goVariables([]string{"HOME=/", "TERM=linux"}); len(got) != 0 {
		t.Errorf("the kernel's own environment refused: %v", got)
	}
}

// TestGoVariableRefused: a command line that set GODEBUG ends the boot in
// the config step with a hint naming it, before any module or network.
func TestGoVariableRefused(t *testing.T) {
	h := newHarness(t)
	h.environ = append(h.environ, "GODEBUG=x509sha1=1")
	if err := h.run(); err == nil {
		t.Fatal("Run succeeded")
	}
	finals := h.finals()
	if len(finals) != 1 || finals[0].Code != klog.CodeConfigInvalid || finals[0].Step != "config" ||
		!strings.Contains(finals[0].Hint, "GODEBUG") {
		t.Fatalf("final lines = %+v, want CONFIG_INVALID at config naming GODEBUG", finals)
	}
}
