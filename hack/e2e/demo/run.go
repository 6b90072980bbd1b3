//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/hack/e2e"
)

// Fixed inputs of the demo (the Makefile's initramfs target uses the same).
const (
	demoDir     = "testdata/demo"
	demoConfig  = demoDir + "/cvminit.yaml"
	initramfs   = "build/initramfs.img"
	binDir      = "build/bin"
	demoCmdline = e2e.DefaultCmdline
	demoVCPUs   = 2
)

// errGuestFailed marks a boot that ran but did not reach the confidential OS.
var errGuestFailed = errors.New("the demo VM did not boot the confidential OS")

// options are the command-line flags.
type options struct {
	Work string
	OVMF bool
}

// demo is everything one run made, in the order it was made.
type demo struct {
	out     io.Writer
	o       options
	tools   e2e.Tools
	layout  e2e.Layout
	bin     e2e.Binaries
	cfg     *config.Config
	port    int
	secret  string
	keyFile string
	tree    string
	disk    string
	emu     string
	digest  string
	policy  string
	launch  e2e.Launch
	steps   []e2e.Stage
	res     *e2e.Result
	bootDir string
}

func run(ctx context.Context, out io.Writer, o options) error {
	d := &demo{out: out, o: o}
	for _, st := range []struct {
		title string
		do    func(context.Context) error
	}{
		{"checking tools, assets, binaries, " + initramfs + " and " + demoConfig, d.prepare},
		{"confidential OS (Debian busybox-static) sealed by cvmctl seal: ext4 + dm-verity tree, LUKS2 under a fresh random key", d.seal},
		{"emulated AMD chain (ARK/ASK/VCEK) for snpemu", d.chain},
		{"expected launch digest (cvmctl measure) and the broker policy pinning it", d.measure},
		{"booting: keybroker, snpemu and QEMU (TCG); the guest's serial console follows", d.boot},
	} {
		fmt.Fprintf(out, "\n== %s\n", st.title)
		start := time.Now()
		if err := st.do(ctx); err != nil {
			return err
		}
		d.steps = append(d.steps, e2e.Stage{Name: st.title, Took: time.Since(start)})
	}
	return d.summary()
}

// prepare finds the tools, assets and prebuilt binaries and reads the demo
// config the initramfs was built from.
func (d *demo) prepare(context.Context) error {
	var err error
	if d.tools, err = e2e.FindTools(); err != nil {
		return err
	}
	if d.layout, err = e2e.FindLayout("."); err != nil {
		return err
	}
	if err := os.Chdir(d.layout.Root); err != nil {
		return err
	}
	d.layout.Assets = filepath.Join("build", "assets") // shorter paths in the output

	bin := func(n string) string { return filepath.Join(binDir, n) }
	d.bin = e2e.Binaries{Cvmctl: bin("cvmctl"), Keybroker: bin("keybroker"), Snpemu: bin("snpemu"),
		Cvminit: bin("cvminit")}
	for _, p := range []string{d.bin.Cvmctl, d.bin.Keybroker, d.bin.Snpemu, initramfs} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%w (run make demo, which makes build and initramfs first)", err)
		}
	}
	if d.cfg, d.port, err = readConfig(demoConfig); err != nil {
		return err
	}
	if err := portFree(d.port); err != nil {
		return err
	}
	if err := os.RemoveAll(d.o.Work); err != nil {
		return err
	}
	return os.MkdirAll(filepath.Join(d.o.Work, "secrets"), 0o700)
}

// readConfig parses the demo operator config and returns it with the
// broker's port.
func readConfig(path string) (*config.Config, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	cfg, err := config.ParseYAML(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	u, err := url.Parse(cfg.Broker.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: broker.url: %w", path, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port <= 0 || port > 65535 {
		return nil, 0, fmt.Errorf("%s: broker.url %q has no port", path, cfg.Broker.URL)
	}
	return cfg, port, nil
}

// portFree fails when something already listens where the demo broker must.
func portFree(port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("the demo broker needs 127.0.0.1:%d (pinned in %s), but it is taken: %w", port,
			demoConfig, err)
	}
	return ln.Close()
}

func (d *demo) path(name string) string { return filepath.Join(d.o.Work, name) }

// seal builds the confidential OS and seals it under a fresh key with the
// config's LUKS UUID; the key with the disk's identity (disk.Payload)
// becomes the broker's resource.
func (d *demo) seal(ctx context.Context) error {
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	d.secret = "demo-secret-" + hex.EncodeToString(salt)
	deb, err := e2e.FetchDeb(ctx, d.tools, filepath.Join(d.layout.Cache(), "debs"), e2e.BusyboxPackage)
	if err != nil {
		return err
	}
	d.tree, d.disk, d.keyFile = d.path("rootfs"), d.path("disk.img"), d.path("secrets/root.key")
	for _, p := range []string{d.tree, d.keyFile} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(d.tree, 0o755); err != nil {
		return err
	}
	if err := e2e.BuildTree(ctx, d.tools, d.tree, e2e.Rootfs{BusyboxDeb: deb, Secret: d.secret}); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.keyFile), 0o700); err != nil {
		return err
	}
	args := []string{"seal", "--force", "--rootfs", d.tree, "--out", d.disk, "--uuid", d.cfg.Disk.LUKSUUID,
		"--payload", d.keyFile}
	fmt.Fprintf(d.out, "$ cvmctl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.bin.Cvmctl, args...)
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cvmctl seal: %w", err)
	}
	return nil
}

func (d *demo) chain(ctx context.Context) error {
	d.emu = d.path("snp")
	if err := e2e.EmuInit(ctx, d.bin, d.emu); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "chain: %s\n", e2e.EmuChain(d.emu))
	return nil
}
