package initramfs

import (
	"errors"
	"slices"
	"testing"

	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

func TestParseModinfoStrings(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want modinfo
	}{
		{"debian dm-verity", initramfstest.Modinfo("depends=reed_solomon,dm-mod,dm-bufio", "name=dm_verity",
			"vermagic=6.1.0-56-amd64 SMP preempt"),
			modinfo{name: "dm_verity", depends: []string{"reed_solomon", "dm_mod", "dm_bufio"}, vermagic: "6.1.0-56-amd64 SMP preempt"}},
		{"empty depends", initramfstest.Modinfo("depends=", "name=dm_mod"), modinfo{name: "dm_mod"}},
		{"padding and junk", []byte("\x00\x00junk\x00alias=x\x00depends=a,,b\x00\x00"),
			modinfo{depends: []string{"a", "b"}, aliases: []string{"x"}}},
		{"value with =", initramfstest.Modinfo("name=a=b"), modinfo{name: "a=b"}},
		// Debian's crc32c_generic, libcrc32c and ext4.
		{"aliases", initramfstest.Modinfo("alias=crypto-crc32c", "alias=crc32c", "alias= "),
			modinfo{aliases: []string{"crypto_crc32c", "crc32c"}}},
		{"softdep pre", initramfstest.Modinfo("softdep=pre: crc32c"), modinfo{softPre: []string{"crc32c"}}},
		{"softdep pre and post", initramfstest.Modinfo("softdep=pre: crypto-crc32c a post: b pre: c", "softdep=post: d"),
			modinfo{softPre: []string{"crypto_crc32c", "a", "c"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseModinfoStrings(tc.in)
			if got.name != tc.want.name || got.vermagic != tc.want.vermagic || !slices.Equal(got.depends, tc.want.depends) ||
				!slices.Equal(got.aliases, tc.want.aliases) || !slices.Equal(got.softPre, tc.want.softPre) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseModinfoNoSection(t *testing.T) {
	if _, err := parseModinfo(initramfstest.Executable("")); !errors.Is(err, ErrBadModule) {
		t.Errorf("executable: %v, want ErrBadModule", err)
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add(initramfstest.Module("dm_crypt", "6.1.0-56-amd64", "dm-mod"))
	f.Add(initramfstest.Executable("/lib/ld.so"))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mi, err := parseModinfo(b)
		if err != nil && !errors.Is(err, ErrBadModule) {
			t.Fatalf("error %v not ErrBadModule", err)
		}
		for _, d := range mi.depends {
			if d == "" {
				t.Fatal("empty dependency name")
			}
		}
		_ = CheckInit(b)
	})
}
