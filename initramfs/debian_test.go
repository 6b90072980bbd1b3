package initramfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// debianTree opens the Debian kernel's modules unpacked by hack/assets.sh, or
// skips: unit tests must not need the downloaded assets.
func debianTree(t *testing.T) *ModuleTree {
	t.Helper()
	assets := filepath.Join("..", "build", "assets")
	release, err := os.ReadFile(filepath.Join(assets, "kernel-release"))
	if err != nil {
		t.Skipf("no Debian kernel assets (%v); run hack/assets.sh to enable this test", err)
	}
	r := strings.TrimSpace(string(release))
	mt, err := OpenModuleTree(filepath.Join(assets, "root", "lib", "modules", r), "")
	if err != nil {
		t.Fatalf("OpenModuleTree: %v", err)
	}
	return mt
}

// TestDebianClosure checks facts of Debian's 6.1 kernel (the depends= lines
// of its modules, as `modinfo` prints them): dm-crypt needs dm-mod; dm-verity
// needs reed_solomon, dm-mod and dm-bufio; ext4 needs jbd2, mbcache and crc16;
// virtio-blk needs virtio and virtio_ring; cbc is built in.
func TestDebianClosure(t *testing.T) {
	mt := debianTree(t)
	c, err := mt.Resolve(append(DefaultModules(), "cbc"))
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	pos := map[string]int{}
	for i, m := range c.Modules {
		pos[m.Name] = i
		for _, d := range m.Depends {
			if j, ok := pos[d]; !ok || j >= i {
				t.Errorf("%s comes before its dependency %s", m.Name, d)
			}
		}
	}
	needs := map[string][]string{
		"dm_crypt":   {"dm_mod"},
		"dm_verity":  {"dm_mod", "dm_bufio", "reed_solomon"},
		"ext4":       {"jbd2", "mbcache", "crc16"},
		"virtio_blk": {"virtio", "virtio_ring"},
	}
	for m, deps := range needs {
		for _, d := range deps {
			if _, ok := pos[d]; !ok || pos[d] > pos[m] {
				t.Errorf("%s: dependency %s missing or after it (order %v)", m, d, c.Paths())
			}
		}
	}
	for _, w := range DefaultModules() {
		if _, ok := pos[w]; !ok {
			t.Errorf("wanted module %s not in the closure", w)
		}
	}
	if !slices.Equal(c.Builtin, []string{"cbc"}) {
		t.Errorf("builtin = %q, want [cbc]", c.Builtin)
	}
	t.Logf("%d modules: %s", len(c.Modules), strings.Join(c.Paths(), " "))
}
