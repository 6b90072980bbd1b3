package kbs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type stringsBuilder struct{ strings.Builder }

// peerVector reads a file from the shared peer vectors beside the checkout.
func peerVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "peer-vectors", "snp-reports", name))
	if err != nil {
		t.Fatalf("peer vector: %v", err)
	}
	return b
}
