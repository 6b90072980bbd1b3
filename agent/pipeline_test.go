package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/klog"
)

// harness runs the pipeline against a fake Sys and captures the output.
type harness struct {
	t       *testing.T
	f       *fake
	cfg     *config.Config
	kmsg    *syncBuffer
	console *syncBuffer
	cmdline string
	// exe is /proc/self/exe (nil: unreadable).
	exe []byte
	// debugShell is Sys.DebugShell (nil: none).
	debugShell func(context.Context) error
	// environ is Options.Environ.
	environ []string
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := &config.Config{
		Version:     1,
		Attestation: config.Attestation{Provider: "emulated", EmulatorPort: "cvminit.snp"},
		Broker: config.Broker{URL: "https://10.0.2.2:8443", CAPEM: testCAPEM(t), Resource: "default/disk/root",
			Attempts: 2, Timeout: config.Duration(5 * time.Second)},
		Network: config.Network{Mode: "static", Interface: "eth0", Address: "10.0.2.15/24", Gateway: "10.0.2.2"},
		Disk:    config.Disk{LUKSUUID: testUUID, Name: "root", FSType: "ext4", Options: "ro", Integrity: "verity"},
		Modules: []string{"/lib/modules/virtio_net.ko", "/lib/modules/dm-crypt.ko"},
		Boot:    config.Boot{Deadline: config.Duration(10 * time.Second), OnFailure: "poweroff", Init: "/sbin/init"},
		Log:     config.Log{Level: "info"},
	}
	vda := luksFixture(testUUID, nil)
	f := &fake{
		disks:    map[string][]byte{"vda": vda, "vdb": make([]byte, 8192)},
		key:      testKey,
		sealedID: sealedIdentity(t, vda),
		verity:   testVerity(),
		volSize:  16 << 20,
		dirs: map[string]fs.FileMode{"/newroot/etc": fs.ModeDir | 0o755, "/newroot/var": fs.ModeDir | 0o755,
			"/newroot/tmp": fs.ModeDir | fs.ModeSticky | 0o777},
	}
	f.tpm = &fakeTPM{}
	f.kmsg = &syncBuffer{}
	return &harness{t: t, f: f, cfg: cfg, kmsg: f.kmsg.(*syncBuffer), console: &syncBuffer{}, cmdline: "console=ttyS0 quiet",
		exe: []byte("\x7fELF cvminit under test"), environ: []string{"HOME=/", "TERM=linux"}}
}

// run boots once and returns Run's error.
func (h *harness) run() error {
	h.t.Helper()
	b, err := h.cfg.JSON()
	if err != nil {
		h.t.Fatal(err)
	}
	if h.f.files == nil {
		h.f.files = map[string][]byte{config.Path: b}
	}
	h.f.files["/proc/cmdline"] = []byte(h.cmdline + "\n")
	if _, ok := h.f.files[meminfoPath]; !ok {
		h.f.files[meminfoPath] = testMeminfo
	}
	if h.exe != nil {
		h.f.files[selfExe] = h.exe
	}
	var lv slog.LevelVar
	handler := klog.New(klog.Options{Kmsg: h.kmsg, Console: h.console, Level: &lv})
	sys := h.f.sys()
	sys.DebugShell = h.debugShell
	return Run(context.Background(), Options{Sys: sys, Log: handler, Level: &lv, Deadline: 2 * time.Second,
		Environ: h.environ})
}

// finals returns the status lines printed on the console.
func (h *harness) finals() []klog.Status {
	var out []klog.Status
	for _, line := range strings.Split(h.console.String(), "\n") {
		if st, ok := klog.ParseStatus(line); ok {
			out = append(out, st)
		}
	}
	return out
}

// steps returns the step lines printed on the console.
func (h *harness) steps() []klog.StepResult {
	var out []klog.StepResult
	for _, line := range strings.Split(h.console.String(), "\n") {
		if r, ok := klog.ParseStep(line); ok {
			out = append(out, r)
		}
	}
	return out
}

func stepNames() []string {
	var names []string
	for _, s := range Steps() {
		names = append(names, s.Name)
	}
	return names
}

func TestHappyPath(t *testing.T) {
	h := newHarness(t)
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v\nconsole:\n%s", err, h.console)
	}
	finals := h.finals()
	want := klog.Status{OK: true, Root: "/dev/mapper/root", Init: "/sbin/init", TPM: "measured"}
	if len(finals) != 1 || finals[0].Root != want.Root || finals[0].Init != want.Init || !finals[0].OK ||
		finals[0].TPM != want.TPM {
		t.Fatalf("final lines = %+v, want one OK line like %+v\nconsole:\n%s", finals, want, h.console)
	}
	var got []string
	for _, s := range h.steps() {
		if s.Status != klog.StepOK {
			t.Errorf("step %s: %s", s.Name, s.Status)
		}
		got = append(got, s.Name)
	}
	if strings.Join(got, ",") != strings.Join(stepNames(), ",") {
		t.Errorf("steps = %v, want %v", got, stepNames())
	}
	wantCalls := []string{
		"mount proc proc /proc", "mount sysfs sysfs /sys", "mount devtmpfs devtmpfs /dev", "mount tmpfs tmpfs /run",
		"tpm open", "log open /run/log/systemd/tpm2-measure.log",
		"tpm extend 11", "tpm extend 11", "tpm extend 11", "tpm extend 12",
		"load /lib/modules/virtio_net.ko", "load /lib/modules/dm-crypt.ko", "net eth0",
		"broker client https://10.0.2.2:8443", "broker preconnect",
		"broker get default/disk/root", "report",
		"unlock /dev/vda root-crypt key=32 meta=327680", "tpm extend 15",
		"verity size /dev/mapper/root-crypt", "verity create root", "tpm extend 15",
		"mount ext4 /dev/mapper/root /newroot", "mount tmpfs tmpfs /newroot/tmp", "mount tmpfs tmpfs /run/cvminit-rw",
		"mount overlay overlay /newroot/etc", "mount overlay overlay /newroot/var",
		"check /newroot /sbin/init", "tpm extend 11", "tpm close", "kmsg limit restored",
		"switchroot /newroot /sbin/init",
	}
	// The root disk is looked for (list) while the key is fetched: once,
	// in any order with the key step's calls, before the unlock.
	calls := h.f.hardwareCalls()
	if i, u := slices.Index(calls, "list"), slices.IndexFunc(calls, func(c string) bool {
		return strings.HasPrefix(c, "unlock ")
	}); i < 0 || i > u || slices.Contains(calls[i+1:], "list") {
		t.Errorf("calls:\n%s\nwant one list before the unlock", strings.Join(calls, "\n"))
	}
	calls = slices.DeleteFunc(calls, func(c string) bool { return c == "list" })
	// The probe (open, report) is taken while the network is configured:
	// in any order with the network step's calls, after the network's
	// module and before the broker's request.
	for _, c := range []string{"attest open emulated port=cvminit.snp", "report"} {
		calls = takeBetween(t, calls, c, "load /lib/modules/virtio_net.ko", "broker get default/disk/root")
	}
	if strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
	}
	if h.f.keyLenAtSwitch != 0 {
		t.Errorf("key still held (%d bytes) at switch_root", h.f.keyLenAtSwitch)
	}
	checkWiped(t, h.f)
	if h.f.called("poweroff") || h.f.called("reboot") {
		t.Error("powered off after a successful boot")
	}
}

// takeBetween removes the first call c from calls, which must come after
// the call after and before the call before.
func takeBetween(t *testing.T, calls []string, c, after, before string) []string {
	t.Helper()
	i, a, b := slices.Index(calls, c), slices.Index(calls, after), slices.Index(calls, before)
	if i < 0 || i < a || i > b {
		t.Errorf("calls:\n%s\nwant %q after %q and before %q", strings.Join(calls, "\n"), c, after, before)
		return calls
	}
	return slices.Delete(calls, i, i+1)
}

// hardwareCalls drops mkdirs from the call log.
func (f *fake) hardwareCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "mkdir ") {
			out = append(out, c)
		}
	}
	return out
}

func checkWiped(t *testing.T, f *fake) {
	t.Helper()
	if f.keyBuf != nil && (f.keyBuf.Len() != 0 || !bytes.Equal(f.keyBytes, make([]byte, len(f.keyBytes)))) {
		t.Errorf("payload buffer not wiped: len %d, bytes %x", f.keyBuf.Len(), f.keyBytes)
	}
	if f.usedKey != nil && (f.usedKey.Len() != 0 || !bytes.Equal(f.usedBytes, make([]byte, len(f.usedBytes)))) {
		t.Errorf("key buffer not wiped: len %d, bytes %x", f.usedKey.Len(), f.usedBytes)
	}
}

// sealedIdentity is the header identity of a metadata region, as cvmctl
// records it when sealing.
func sealedIdentity(t *testing.T, region []byte) string {
	t.Helper()
	m, err := disk.CheckRegion(region, testUUID)
	if err != nil {
		t.Fatal(err)
	}
	return m.Identity()
}

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

var _ = errors.Is

// TestConfigfsOptional: a kernel without configfs (Debian 6.1 builds it as a
// module) still boots with the provider "auto", which mounts it on demand
// (configfsMount); configfs-tsm is then simply not available.
func TestConfigfsOptional(t *testing.T) {
	h := newHarness(t)
	h.cfg.Attestation.Provider, h.cfg.Attestation.EmulatorPort = "auto", ""
	h.f.mountErr = map[string]error{"/sys/kernel/config": errors.New("ENODEV")}
	if err := h.run(); err != nil {
		t.Fatalf("Run = %v\nconsole:\n%s", err, h.console)
	}
	if finals := h.finals(); len(finals) != 1 || !finals[0].OK {
		t.Fatalf("final lines = %+v, want one OK line\nconsole:\n%s", finals, h.console)
	}
	if !h.f.called("mount configfs configfs /sys/kernel/config") {
		t.Error("configfs was not tried")
	}
}
