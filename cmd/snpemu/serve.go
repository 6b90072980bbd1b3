package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/cvminit/cvminit/cmd/snpemu/emu"
	"github.com/cvminit/cvminit/initramfs/launch"
)

// serveFlags are the parsed serve arguments.
type serveFlags struct {
	state, socket, measurement                string
	ovmf, kernel, initrd, appendLine          string
	vcpus                                     int
	vcpuType, vmmType, features, cpuidProduct string
	vmpl                                      int
	cfg                                       emu.Config
}

func parseServe(args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := newFlags("serve")
	fs.StringVar(&f.state, "state", "", "state directory made by snpemu init")
	fs.StringVar(&f.socket, "socket", "", "unix socket QEMU's chardev connects to")
	fs.StringVar(&f.measurement, "measurement", "", "MEASUREMENT as 96 hex digits instead of measuring --ovmf")
	fs.StringVar(&f.ovmf, "ovmf", "", "OVMF image the launch measures (OVMF.amdsev.fd)")
	fs.StringVar(&f.kernel, "kernel", "", "kernel QEMU direct-boots")
	fs.StringVar(&f.initrd, "initrd", "", "initrd QEMU direct-boots")
	fs.StringVar(&f.appendLine, "append", "", "kernel command line")
	fs.IntVar(&f.vcpus, "vcpus", 1, "number of vCPUs")
	fs.StringVar(&f.vcpuType, "vcpu-type", "EPYC-v4", "QEMU vCPU type")
	fs.StringVar(&f.vmmType, "vmm-type", "qemu", "VMM whose VMSA is measured: qemu, ec2 or gce")
	fs.StringVar(&f.features, "guest-features", "0x21", "SEV_FEATURES of the VMSA")
	fs.BoolVar(&f.cfg.Debug, "debug", false, "misbehave: set POLICY bit 19 (DEBUG)")
	fs.BoolVar(&f.cfg.MigrationAgent, "migration-agent", false, "misbehave: set POLICY bit 18 (migration agent)")
	fs.BoolVar(&f.cfg.LowerTCB, "lower-tcb", false, "misbehave: claim a TCB below the VCEK's")
	fs.StringVar(&f.cpuidProduct, "product", "", "misbehave: claim this product line in CPUID")
	fs.IntVar(&f.vmpl, "vmpl", -1, "misbehave: claim this VMPL (0..3) whatever was requested")
	fs.BoolVar(&f.cfg.WrongReportData, "wrong-report-data", false, "misbehave: sign other REPORT_DATA than requested")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return f, f.check()
}

func (f *serveFlags) check() error {
	switch {
	case f.state == "" || f.socket == "":
		return usagef("serve: --state and --socket are required")
	case (f.ovmf == "") == (f.measurement == ""):
		return usagef("serve: give exactly one of --ovmf and --measurement")
	case f.ovmf == "" && (f.kernel != "" || f.initrd != "" || f.appendLine != ""):
		return usagef("serve: --kernel, --initrd and --append need --ovmf")
	case f.kernel == "" && (f.initrd != "" || f.appendLine != ""):
		return usagef("serve: --initrd and --append need --kernel")
	case f.vcpus < 1:
		return usagef("serve: --vcpus %d, want at least 1", f.vcpus)
	case f.vmpl < -1 || f.vmpl > 3:
		return usagef("serve: --vmpl %d outside 0..3", f.vmpl)
	}
	if f.vmpl >= 0 {
		v := uint32(f.vmpl)
		f.cfg.ForceVMPL = &v
	}
	f.cfg.CPUIDProduct = f.cpuidProduct
	return nil
}

// config fills in the measurement source: --measurement or the launch inputs.
func (f *serveFlags) config() (emu.Config, error) {
	cfg := f.cfg
	if f.measurement != "" {
		m, err := hex.DecodeString(f.measurement)
		if err != nil || len(m) != len(cfg.Measurement) {
			return cfg, usagef("serve: --measurement must be 96 hex digits")
		}
		copy(cfg.Measurement[:], m)
		return cfg, nil
	}
	lo, err := f.launchOptions()
	cfg.Launch = lo
	return cfg, err
}

func (f *serveFlags) launchOptions() (*launch.Options, error) {
	sig, err := launch.VCPUSignature(f.vcpuType)
	if err != nil {
		return nil, usagef("serve: %v", err)
	}
	feat, err := strconv.ParseUint(f.features, 0, 64)
	if err != nil {
		return nil, usagef("serve: --guest-features %q is not a number", f.features)
	}
	o := &launch.Options{VCPUs: f.vcpus, VCPUSig: sig, VMM: launch.VMM(f.vmmType), GuestFeatures: feat}
	if o.OVMF, err = os.ReadFile(f.ovmf); err != nil {
		return nil, err
	}
	if f.kernel == "" {
		return o, nil
	}
	o.Kernel = &launch.Kernel{Cmdline: f.appendLine}
	if o.Kernel.Kernel, err = os.ReadFile(f.kernel); err != nil {
		return nil, err
	}
	if f.initrd != "" {
		o.Kernel.Initrd, err = os.ReadFile(f.initrd)
	}
	return o, err
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseServe(args)
	if err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	st, err := emu.Load(f.state)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Log = log
	srv, err := emu.NewServer(st, cfg)
	if err != nil {
		return err
	}
	ln, err := listen(f.socket)
	if err != nil {
		return err
	}
	defer os.Remove(f.socket)
	m := srv.Measurement()
	log.Info("serving", "socket", f.socket, "product", st.ProductLine, "measurement", hex.EncodeToString(m[:]))
	return srv.Serve(ctx, ln)
}

// listen opens the unix socket, replacing a stale socket (never another kind of file).
func listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	return ln, nil
}
