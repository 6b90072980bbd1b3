package initramfs

import (
	"slices"
	"strings"
	"testing"

	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

// modSoft is a test module with depends= and further .modinfo strings
// (alias=, softdep=).
func modSoft(name string, depends string, extra ...string) []byte {
	return initramfstest.ModuleWithModinfo(initramfstest.Modinfo(append([]string{
		"depends=" + depends, "name=" + name, "vermagic=" + rel + " SMP preempt mod_unload modversions ",
	}, extra...)...))
}

// softTree mirrors Debian's: erofs needs libcrc32c, whose init allocates
// "crc32c" (softdep pre), which crc32c_generic provides under an alias;
// xts names ecb; b and c name each other.
func softTree() map[string][]byte {
	return map[string][]byte{
		"kernel/fs/erofs/erofs.ko":        modSoft("erofs", "libcrc32c"),
		"kernel/lib/libcrc32c.ko":         modSoft("libcrc32c", "", "softdep=pre: crc32c"),
		"kernel/crypto/crc32c_generic.ko": modSoft("crc32c_generic", "", "alias=crypto-crc32c", "alias=crc32c"),
		"kernel/crypto/xts.ko":            modSoft("xts", "", "softdep=pre: ecb"),
		"kernel/crypto/ecb.ko":            modSoft("ecb", ""),
		"kernel/b.ko":                     modSoft("b", "c", "softdep=pre: nothere"),
		"kernel/c.ko":                     modSoft("c", "", "softdep=pre: b"),
	}
}

func names(c Closure) string {
	var out []string
	for _, m := range c.Modules {
		out = append(out, m.Name)
	}
	return strings.Join(out, " ")
}

// TestResolveSoftDeps: a provider in the closure loads before the modules
// that name it as a soft pre-dependency (worked out by hand), a provider
// not wanted is not pulled in, and a soft edge against a hard one is
// dropped instead of failing.
func TestResolveSoftDeps(t *testing.T) {
	mt := tree(t, softTree())
	for _, tc := range []struct {
		wanted []string
		want   string
	}{
		{[]string{"erofs", "xts", "ecb", "crc32c_generic"}, "crc32c_generic libcrc32c erofs ecb xts"},
		{[]string{"erofs"}, "libcrc32c erofs"}, // crc32c_generic not wanted: not shipped
		{[]string{"b"}, "c b"},                 // c names b softly, but b needs c
	} {
		c, err := mt.Resolve(tc.wanted)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tc.wanted, err)
		}
		if got := names(c); got != tc.want {
			t.Errorf("Resolve(%q) = %s, want %s", tc.wanted, got, tc.want)
		}
		for _, m := range c.Modules {
			want := map[string][]string{"libcrc32c": {"crc32c_generic"}, "xts": {"ecb"}}[m.Name]
			if len(tc.wanted) < 4 {
				want = nil
			}
			if !slices.Equal(m.SoftPre, want) {
				t.Errorf("Resolve(%q): %s.SoftPre = %q, want %q", tc.wanted, m.Name, m.SoftPre, want)
			}
		}
	}
}

// TestDepFileSoftDeps: modules.dep lists soft pre-dependency providers too,
// so that the guest waits for them.
func TestDepFileSoftDeps(t *testing.T) {
	c, err := tree(t, softTree()).Resolve([]string{"erofs", "crc32c_generic"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := c.DepFile()
	want := "kernel/crypto/crc32c_generic.ko:\n" +
		"kernel/lib/libcrc32c.ko: kernel/crypto/crc32c_generic.ko\n" +
		"kernel/fs/erofs/erofs.ko: kernel/lib/libcrc32c.ko kernel/crypto/crc32c_generic.ko\n"
	if string(f.Data) != want {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", f.Data, want)
	}
}
