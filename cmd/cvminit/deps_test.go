package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestGuestDependencies keeps verification and test code out of the guest
// binary (DESIGN.md §2): no go-sev-guest verify, validate or testing
// package, and nothing from the repository's cmd/ tree but cvminit itself.
// It keeps out google.golang.org/protobuf (about 3 MB of a 4 MiB initramfs),
// and with it go-sev-guest's abi, client and proto packages that import it:
// agent/snp uses only client/linuxabi.
// It also keeps out what the guest does not need and the initramfs pays for
// in size: decompressors (modules are plain .ko files the kernel loads with
// finit_module) and u-root's DHCP client with its DHCPv6 half (cvminit uses
// nclient4 directly).
func TestGuestDependencies(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		t.Skipf("go tool not found at %s", goBin)
	}
	cmd := exec.Command(goBin, "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	forbidden := []string{
		"github.com/google/go-sev-guest/verify",
		"github.com/google/go-sev-guest/validate",
		"github.com/google/go-sev-guest/testing",
		"github.com/google/go-sev-guest/abi",
		"github.com/google/go-sev-guest/client",
		"github.com/google/go-sev-guest/proto",
		"google.golang.org/protobuf",
		"github.com/cvminit/cvminit/cmd/",
		"github.com/cvminit/cvminit/initramfs",
		"github.com/u-root/u-root/pkg/kmodule",
		"github.com/u-root/u-root/pkg/dhclient",
		"github.com/insomniacslk/dhcp/dhcpv6",
		"github.com/klauspost/compress",
		"github.com/klauspost/pgzip",
		"github.com/ulikunitz/xz",
	}
	allowed := map[string]bool{
		"github.com/cvminit/cvminit/cmd/cvminit":         true,
		"github.com/google/go-sev-guest/client/linuxabi": true, // kernel ABI structs, standard library only
	}
	seen := map[string]bool{}
	for _, d := range deps {
		seen[d] = true
		for _, f := range forbidden {
			if (d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/")) && !allowed[d] {
				t.Errorf("cvminit depends on %s", d)
			}
		}
	}
	// The list is real: it holds what cvminit must use.
	for _, want := range []string{"github.com/cvminit/cvminit/agent", "github.com/cvminit/cvminit/agent/snp",
		"github.com/u-root/u-root/pkg/mount", "github.com/anatol/luks.go",
		"github.com/insomniacslk/dhcp/dhcpv4/nclient4", "github.com/google/go-sev-guest/client/linuxabi"} {
		if !seen[want] {
			t.Errorf("dependency list lacks %s", want)
		}
	}
}
