package klog_test

import (
	"os"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/agent/klog"
)

// TestREADMEListsEveryCode keeps the operator-facing table of failure codes in
// the README complete: every code with its meaning.
func TestREADMEListsEveryCode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range klog.Codes() {
		row := "| `" + string(c.Code) + "` | " + c.Meaning + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row for %s (%q)", c.Code, row)
		}
	}
}
