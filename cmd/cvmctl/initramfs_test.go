package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/initramfs/initramfstest"
)

const fakeRelease = "6.1.0-98-amd64"

// fakeModules is a small tree shaped like Debian's: every default module,
// hyphenated file names, a few dependencies, and one extra module.
func fakeModules() map[string][]byte {
	m := func(name string, deps ...string) []byte { return initramfstest.Module(name, fakeRelease, deps...) }
	return map[string][]byte{
		"kernel/drivers/virtio/virtio.ko":                 m("virtio"),
		"kernel/drivers/virtio/virtio_ring.ko":            m("virtio_ring"),
		"kernel/drivers/virtio/virtio_pci.ko":             m("virtio_pci", "virtio", "virtio_ring"),
		"kernel/drivers/block/virtio_blk.ko":              m("virtio_blk", "virtio", "virtio_ring"),
		"kernel/drivers/net/virtio_net.ko":                m("virtio_net"),
		"kernel/drivers/char/virtio_console.ko":           m("virtio_console"),
		"kernel/drivers/md/dm-mod.ko":                     m("dm_mod"),
		"kernel/drivers/md/dm-crypt.ko":                   m("dm_crypt", "dm-mod"),
		"kernel/drivers/md/dm-verity.ko":                  m("dm_verity", "dm-mod"),
		"kernel/crypto/cryptd.ko":                         m("cryptd"),
		"kernel/crypto/crypto_simd.ko":                    m("crypto_simd", "cryptd"),
		"kernel/arch/x86/crypto/aesni-intel.ko":           m("aesni_intel", "crypto_simd", "cryptd"),
		"kernel/crypto/xts.ko":                            m("xts"),
		"kernel/crypto/crc32c_generic.ko":                 m("crc32c_generic"),
		"kernel/fs/jbd2/jbd2.ko":                          m("jbd2"),
		"kernel/fs/mbcache.ko":                            m("mbcache"),
		"kernel/lib/crc16.ko":                             m("crc16"),
		"kernel/fs/ext4/ext4.ko":                          m("ext4", "jbd2", "mbcache", "crc16"),
		"kernel/fs/erofs/erofs.ko":                        m("erofs"),
		"kernel/fs/overlayfs/overlay.ko":                  m("overlay"),
		"kernel/drivers/virt/coco/sev-guest/sev-guest.ko": m("sev_guest"),
		"kernel/drivers/block/loop.ko":                    m("loop"),
		"modules.builtin":                                 []byte("kernel/crypto/cbc.ko\n"),
	}
}

// expectedOrder is the load order for the defaults of an ext4 root without
// sev-guest, worked out by hand from fakeModules: the defaults in their
// order, each module after its depends= entries, erofs left out. With
// erofs true it is the order for an erofs root: erofs instead of ext4 and
// the modules only ext4 needs.
func expectedOrder(erofs bool, extra ...string) []string {
	fs := []string{"fs/jbd2/jbd2", "fs/mbcache", "lib/crc16", "fs/ext4/ext4"}
	if erofs {
		fs = []string{"fs/erofs/erofs"}
	}
	names := append(fs, "drivers/md/dm-mod", "drivers/md/dm-crypt", "drivers/md/dm-verity",
		"drivers/virtio/virtio", "drivers/virtio/virtio_ring", "drivers/virtio/virtio_pci",
		"drivers/block/virtio_blk", "drivers/net/virtio_net", "drivers/char/virtio_console",
		"fs/overlayfs/overlay", "crypto/cryptd", "crypto/crypto_simd", "arch/x86/crypto/aesni-intel",
		"crypto/crc32c_generic")
	out := []string{}
	for _, n := range append(names, extra...) {
		out = append(out, "/lib/modules/"+fakeRelease+"/kernel/"+n+".ko")
	}
	return out
}

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test broker CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// testYAML is a valid operator config for the given attestation provider.
func testYAML(caPEM, provider string) []byte {
	port := ""
	if provider == "emulated" {
		port = ", emulator_port: cvminit.snp"
	}
	return fmt.Appendf(nil, "version: 1\nattestation: {provider: %s%s}\nbroker:\n  url: https://10.0.2.2:8443\n"+
		"  ca_pem: |\n    %s\ndisk: {luks_uuid: 0b5c3b1e-8a63-4c8e-9d2a-6c0f3e3f9a11}\n",
		provider, port, strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n    "))
}

// inputs writes the build inputs under dir with the given file mode and
// time and returns the flags naming them.
func inputs(t *testing.T, dir string, yaml []byte, perm os.FileMode, mtime time.Time) []string {
	t.Helper()
	mods := filepath.Join(dir, "lib", "modules", fakeRelease)
	initramfstest.WriteTree(t, mods, fakeModules())
	initramfstest.WriteTree(t, dir, map[string][]byte{"cvminit.yaml": yaml, "cvminit": initramfstest.Executable("")})
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			err = os.Chmod(p, perm)
		}
		if err == nil {
			err = os.Chtimes(p, mtime, mtime)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return []string{"build", "--config", filepath.Join(dir, "cvminit.yaml"), "--init", filepath.Join(dir, "cvminit"),
		"--modules-dir", mods, "--output", filepath.Join(dir, "out.img")}
}

// build runs the command and checks its report line against the file.
func build(t *testing.T, args []string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runInitramfs(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := args[len(args)-1]
	if i := slices.Index(args, "--output"); i >= 0 {
		out = args[i+1]
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	want := fmt.Sprintf("%s size=%d sha256=%s modules=", out, len(img), hex.EncodeToString(sum[:]))
	if got := stdout.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "\n") {
		t.Errorf("stdout %q, want %q...", got, want)
	}
	return img
}

// unpack reads the image back with initramfs.NewReader and u-root's cpio
// reader (records) and returns each file's contents by path.
func unpack(t *testing.T, img []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for name, r := range records(t, img) {
		b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if err != nil {
			t.Fatal(err)
		}
		files["/"+name] = b
	}
	return files
}

func TestInitramfsBuildReproducible(t *testing.T) {
	yaml := testYAML(testCAPEM(t), "emulated")
	a := build(t, inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0)))
	b := build(t, inputs(t, filepath.Join(t.TempDir(), "other", "place"), yaml, 0o600, time.Unix(1.7e9, 0)))
	if !bytes.Equal(a, b) {
		t.Fatalf("two builds of the same inputs differ (%d and %d bytes)", len(a), len(b))
	}
	if d := build(t, append(inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0)), "--debug")); bytes.Equal(a, d) {
		t.Error("--debug gave the same image")
	}
}

func TestInitramfsBuildContents(t *testing.T) {
	ca := testCAPEM(t)
	erofsYAML := bytes.Replace(testYAML(ca, "emulated"), []byte("disk: {"), []byte("disk: {fstype: erofs, "), 1)
	tests := []struct {
		name  string
		yaml  []byte
		flags []string
		want  []string
		debug bool
	}{
		{"emulated leaves out sev-guest", testYAML(ca, "emulated"), nil, expectedOrder(false), false},
		{"sev-guest provider", testYAML(ca, "sev-guest"), nil, withSevGuest(expectedOrder(false)), false},
		{"erofs root", erofsYAML, nil, expectedOrder(true), false},
		{"extra and builtin modules", testYAML(ca, "emulated"), []string{"--module", "loop", "--module", "cbc"},
			expectedOrder(false, "drivers/block/loop"), false},
		{"debug", testYAML(ca, "emulated"), []string{"--debug"}, expectedOrder(false), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := unpack(t, build(t, append(inputs(t, dir, tc.yaml, 0o644, time.Now()), tc.flags...)))
			cfg, err := config.Decode(files["/etc/cvminit/config.json"])
			if err != nil {
				t.Fatalf("config in image: %v", err)
			}
			if !slices.Equal(cfg.Modules, tc.want) {
				t.Errorf("modules:\n got %q\nwant %q", cfg.Modules, tc.want)
			}
			for _, p := range cfg.Modules {
				src := filepath.Join(dir, "lib", "modules", fakeRelease, strings.TrimPrefix(p, "/lib/modules/"+fakeRelease+"/"))
				if want, _ := os.ReadFile(src); !bytes.Equal(files[p], want) || len(want) == 0 {
					t.Errorf("%s: contents differ from %s", p, src)
				}
			}
			checkModulesDep(t, files["/lib/modules/"+fakeRelease+"/modules.dep"], cfg.Modules)
			if !bytes.Equal(files["/init"], initramfstest.Executable("")) {
				t.Error("/init differs from --init")
			}
			if cfg.Debug != tc.debug || cfg.Boot.DebugShellAfterFailure != tc.debug || (cfg.Log.Level == "debug") != tc.debug {
				t.Errorf("debug=%v shell=%v level=%s, want debug settings %v",
					cfg.Debug, cfg.Boot.DebugShellAfterFailure, cfg.Log.Level, tc.debug)
			}
		})
	}
}

// withSevGuest inserts sev-guest where DefaultModules has it: after the
// virtio modules.
func withSevGuest(order []string) []string {
	i := slices.Index(order, "/lib/modules/"+fakeRelease+"/kernel/drivers/char/virtio_console.ko")
	return slices.Insert(order, i+1, "/lib/modules/"+fakeRelease+"/kernel/drivers/virt/coco/sev-guest/sev-guest.ko")
}

// checkModulesDep: the image's modules.dep has one line per module of the
// config, in its order (the format itself is tested in package initramfs).
func checkModulesDep(t *testing.T, dep []byte, modules []string) {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(dep)), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		got = append(got, "/lib/modules/"+fakeRelease+"/"+mod)
	}
	if !slices.Equal(got, modules) {
		t.Errorf("modules.dep lists %q, want the config's %q", got, modules)
	}
}

// TestInitramfsBuildCompress: --compress picks the format (told by its
// magic number), the default is zstd, and each image holds the same files.
func TestInitramfsBuildCompress(t *testing.T) {
	yaml := testYAML(testCAPEM(t), "emulated")
	magic := map[string][]byte{"zstd": {0x28, 0xb5, 0x2f, 0xfd}, "xz": {0xfd, '7', 'z', 'X', 'Z', 0}, "gzip": {0x1f, 0x8b}}
	def := build(t, inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0)))
	if !bytes.HasPrefix(def, magic["zstd"]) {
		t.Errorf("default image starts with % x, want zstd", def[:4])
	}
	want := unpack(t, def)
	for name, m := range magic {
		img := build(t, append(inputs(t, t.TempDir(), yaml, 0o644, time.Unix(1e9, 0)), "--compress", name))
		if !bytes.HasPrefix(img, m) {
			t.Errorf("--compress %s: image starts with % x", name, img[:6])
		}
		if got := unpack(t, img); !maps.EqualFunc(got, want, bytes.Equal) {
			t.Errorf("--compress %s: files differ from the default image's", name)
		}
	}
}

// TestInitramfsBuildLUKSUUID: --luks-uuid sets disk.luks_uuid in the baked
// config, also when the YAML has none, and a malformed one is refused.
func TestInitramfsBuildLUKSUUID(t *testing.T) {
	const want = "0de0c0de-0000-4000-8000-00000000de07"
	yaml := testYAML(testCAPEM(t), "emulated")
	noUUID := bytes.Replace(yaml, []byte("disk: {luks_uuid: 0b5c3b1e-8a63-4c8e-9d2a-6c0f3e3f9a11}\n"), nil, 1)
	if bytes.Equal(noUUID, yaml) {
		t.Fatal("test YAML has no disk line to remove")
	}
	for _, y := range [][]byte{yaml, noUUID} {
		files := unpack(t, build(t, append(inputs(t, t.TempDir(), y, 0o644, time.Now()), "--luks-uuid", want)))
		cfg, err := config.Decode(files["/etc/cvminit/config.json"])
		if err != nil || cfg.Disk.LUKSUUID != want {
			t.Errorf("baked luks_uuid %q (%v), want %s", cfg.Disk.LUKSUUID, err, want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runInitramfs(append(inputs(t, t.TempDir(), noUUID, 0o644, time.Now()), "--luks-uuid", "nope"), &stdout, &stderr); code == 0 {
		t.Error("a malformed --luks-uuid was accepted")
	}
	if code := runInitramfs(inputs(t, t.TempDir(), noUUID, 0o644, time.Now()), &stdout, &stderr); code == 0 {
		t.Error("a config without luks_uuid and no --luks-uuid was accepted")
	}
}
