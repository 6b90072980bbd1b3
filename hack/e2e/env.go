//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cvminit/cvminit/agent/config"
)

// Defaults of EnvOptions.
const (
	DefaultCmdline    = "console=ttyS0 panic=-1"
	DefaultKeyTimeout = 10 * time.Second
	DefaultDeadline   = 60 * time.Second
	// Resource is the KBS resource path of the disk key.
	Resource = "default/disk/root"
	// vcpus is the vCPU count QEMU boots and the launch digest measures.
	vcpus = 2
)

// EnvOptions configure NewEnv. Zero values take the documented defaults.
type EnvOptions struct {
	Work       string        // directory for everything built; required
	OVMF       bool          // QEMU boots stock OVMF.fd instead of SeaBIOS (slower)
	Cmdline    string        // kernel command line; "" means DefaultCmdline
	KeyTimeout time.Duration // broker.timeout; 0 means DefaultKeyTimeout
	Deadline   time.Duration // boot.deadline; 0 means DefaultDeadline
}

// Stage is how long one setup stage took.
type Stage struct {
	Name string
	Took time.Duration
}

// Env is what the e2e boots share: binaries, the emulator's chain, the
// broker's TLS identity and port, the disk key and the disk sealed with
// it, the initramfs the broker policy pins and its launch digest.
type Env struct {
	Tools    Tools
	Layout   Layout
	Opts     EnvOptions
	Bin      Binaries
	EmuState string
	TLSDir   string
	Port     int
	Key      []byte // the disk key: the canary that must never leak
	Secret   string // content of /etc/secret-marker on the disk
	UUID     string // LUKS UUID of the disk
	Rootfs   string // the plain ext4 image of the confidential OS
	Disk     string // Rootfs sealed with Key and dm-verity (cvmctl seal)
	Payload  string // the broker resource cvmctl seal wrote for Disk (0600)
	Guest    Guest  // the config of Initrd
	Initrd   string // the initramfs the policy pins
	Digest   string // its launch digest (cvmctl measure)
	Policy   string // the broker's policy file
	Stages   []Stage
}

// NewEnv builds everything the boots share. Missing tools or assets are
// ErrUnavailable errors.
func NewEnv(ctx context.Context, dir string, o EnvOptions) (*Env, error) {
	e := &Env{Opts: o.withDefaults()}
	var err error
	if e.Tools, err = FindTools(); err != nil {
		return nil, err
	}
	if e.Layout, err = FindLayout(dir); err != nil {
		return nil, err
	}
	for _, st := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"build binaries", e.build}, {"emulator and broker identities", e.identities},
		{"confidential OS disk", e.disk}, {"initramfs", e.initramfs}, {"measure and policy", e.policy},
	} {
		start := time.Now()
		if err := st.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		e.Stages = append(e.Stages, Stage{st.name, time.Since(start)})
	}
	return e, nil
}

func (o EnvOptions) withDefaults() EnvOptions {
	if o.Cmdline == "" {
		o.Cmdline = DefaultCmdline
	}
	if o.KeyTimeout == 0 {
		o.KeyTimeout = DefaultKeyTimeout
	}
	if o.Deadline == 0 {
		o.Deadline = DefaultDeadline
	}
	return o
}

func (e *Env) path(name string) string { return filepath.Join(e.Opts.Work, name) }

func (e *Env) build(ctx context.Context) (err error) {
	e.Bin, err = BuildBinaries(ctx, e.Tools, e.Layout, e.path("bin"))
	return err
}

func (e *Env) identities(ctx context.Context) (err error) {
	e.EmuState, e.TLSDir = e.path("snp"), e.path("tls")
	if err := EmuInit(ctx, e.Bin, e.EmuState); err != nil {
		return err
	}
	ca, err := TLSInit(ctx, e.Bin, e.TLSDir)
	if err != nil {
		return err
	}
	if e.Port, err = FreePort(); err != nil {
		return err
	}
	e.Guest = Guest{BrokerURL: "https://10.0.2.2:" + strconv.Itoa(e.Port), CAPEM: ca, Resource: Resource,
		KeyTimeout: e.Opts.KeyTimeout, Deadline: e.Opts.Deadline}
	return nil
}

func (e *Env) disk(ctx context.Context) (err error) {
	salt, err := randomBytes(8)
	if err != nil {
		return err
	}
	e.Secret = "secret-" + hex.EncodeToString(salt)
	if e.UUID, err = NewUUID(); err != nil {
		return err
	}
	e.Guest.LUKSUUID = e.UUID
	deb, err := FetchDeb(ctx, e.Tools, filepath.Join(e.Layout.Cache(), "debs"), BusyboxPackage)
	if err != nil {
		return err
	}
	e.Rootfs = e.path("rootfs.img")
	if err := BuildRootfs(ctx, e.Tools, e.Opts.Work, Rootfs{BusyboxDeb: deb, Secret: e.Secret, Image: e.Rootfs}); err != nil {
		return err
	}
	e.Disk, e.Payload = e.path("disk.img"), e.path("secrets/root.key")
	if e.Key, err = SealVerity(ctx, e.Bin, e.Rootfs, e.Disk, e.UUID, e.Payload); err != nil {
		return err
	}
	return nil
}

// SealWith seals the confidential OS under key into the work file name,
// with the UUID of the pinned disk.
func (e *Env) SealWith(ctx context.Context, name string, key []byte) (string, error) {
	out := e.path(name)
	return out, SealDisk(ctx, e.Tools, Seal{FSImage: e.Rootfs, Output: out, Key: key, UUID: e.UUID})
}

func (e *Env) initramfs(ctx context.Context) (err error) {
	e.Initrd, err = e.Variant(ctx, "initramfs.img", func(*config.Config) {})
	return err
}

// Variant builds an initramfs into the work file name from the pinned
// guest config as changed by mutate.
func (e *Env) Variant(ctx context.Context, name string, mutate func(*config.Config)) (string, error) {
	cfg, err := e.Guest.Config()
	if err != nil {
		return "", err
	}
	mutate(cfg)
	out := e.path(name)
	_, err = BuildInitramfs(ctx, e.Bin, e.Layout, cfg, out)
	return out, err
}

func (e *Env) policy(ctx context.Context) (err error) {
	if e.Digest, err = Measure(ctx, e.Bin, e.Launch(e.Initrd)); err != nil {
		return err
	}
	e.Policy = e.path("policy.yaml")
	p := Policy{Measurements: []string{e.Digest}, EmulatorRoot: EmuChain(e.EmuState),
		Resources: map[string]string{Resource: e.Payload}}
	return p.Write(ctx, e.Bin, e.Policy)
}

// Launch is the measured launch of initrd with the Env's kernel, command
// line and vCPUs, under the AmdSev firmware.
func (e *Env) Launch(initrd string) Launch {
	return Launch{OVMF: e.Layout.OVMFAmdSev(), Kernel: e.Layout.Kernel(), Initrd: initrd, Cmdline: e.Opts.Cmdline,
		VCPUs: vcpus}
}

// BootOptions vary one boot from the pinned setup.
type BootOptions struct {
	Initrd   string     // "" means the pinned Initrd
	Disk     string     // "" means the pinned Disk
	NoDisk   bool       // attach no disk at all (Disk is then ignored)
	NoBroker bool       // run no broker at all
	Broker   *BrokerRun // a broker other than the Env's; nil means the Env's
	Cmdline  string     // a kernel command line other than the Env's (measured too)
	TPM      bool       // give the VM a TPM 2.0 (swtpm)
	Input    []byte     // typed on the serial console during the boot
	MemMiB   int        // guest RAM; 0 means VM's default
	QMP      bool       // QMP monitor and a hot-plug port (BootSpec.QMP)
	OnLine   func(Line) // sees each serial line as it arrives (BootSpec.OnLine)
}

// Boot runs one VM in the work directory boots/name.
func (e *Env) Boot(ctx context.Context, name string, o BootOptions) (*Result, error) {
	if o.Initrd == "" {
		o.Initrd = e.Initrd
	}
	switch {
	case o.NoDisk:
		o.Disk = ""
	case o.Disk == "":
		o.Disk = e.Disk
	}
	s := BootSpec{Dir: e.path(filepath.Join("boots", name)), Launch: e.Launch(o.Initrd), Disk: o.Disk,
		EmuState: e.EmuState, Input: o.Input, TPM: o.TPM,
		MemMiB: o.MemMiB, QMP: o.QMP, OnLine: o.OnLine}
	if o.Cmdline != "" {
		s.Launch.Cmdline = o.Cmdline
	}
	if e.Opts.OVMF {
		s.Firmware = e.Layout.OVMF()
	}
	if !o.NoBroker {
		s.Broker = o.Broker
		if s.Broker == nil {
			s.Broker = &BrokerRun{Policy: e.Policy, TLSDir: e.TLSDir, Port: e.Port}
		}
	}
	return Boot(ctx, e.Tools, e.Bin, s)
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() (string, error) {
	b, err := randomBytes(16)
	if err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
