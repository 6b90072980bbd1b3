//go:build linux

package e2e

import (
	"fmt"
	"strconv"
	"strings"
)

// SNPPortName is the virtio-serial port name cvminit's emulated provider
// looks for (agent/config DefaultEmulatorPort).
const SNPPortName = "cvminit.snp"

// VM is one QEMU invocation: TCG, q35, direct kernel boot, virtio-blk
// disk, user networking (the host's loopback is 10.0.2.2 in the guest),
// the emulator on a virtio-serial port, and the serial console on stdio
// without QEMU's monitor multiplexed in (so bytes typed there reach only
// the guest).
type VM struct {
	Firmware  string // -bios image; "" means QEMU's default (SeaBIOS)
	Kernel    string
	Initrd    string
	Cmdline   string
	Disk      string // raw disk image on virtio-blk
	SNPSocket string // snpemu's unix socket; "" means no emulator port
	TPMSocket string // swtpm's control socket; "" means no TPM (else a TPM 2.0 on the TIS interface)
	// QMPSocket, when set, is a QMP monitor QEMU listens on (unix socket,
	// not waiting for a client); the machine then also has an empty PCIe
	// root port "hotplug0" for a disk to be hot-plugged into.
	QMPSocket string
	VCPUs     int // 0 means 2
	MemMiB    int // 0 means 512
	// CPU is the -cpu model; "" means "max": under TCG it offers RDRAND,
	// so the guest's random pool is ready at once (as on SNP hardware)
	// instead of after a second or more of jitter entropy.
	CPU string
}

// Args returns QEMU's command line (without the program name). Paths must
// not contain commas (QEMU's option separator).
func (v VM) Args() ([]string, error) {
	for _, p := range []string{v.Disk, v.SNPSocket, v.TPMSocket, v.QMPSocket} {
		if strings.Contains(p, ",") {
			return nil, fmt.Errorf("path %q contains a comma", p)
		}
	}
	vcpus, mem, cpu := v.VCPUs, v.MemMiB, v.CPU
	if cpu == "" {
		cpu = "max"
	}
	if vcpus == 0 {
		vcpus = 2
	}
	if mem == 0 {
		mem = 512
	}
	args := []string{"-machine", "q35", "-cpu", cpu, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(vcpus),
		"-nographic", "-no-reboot", "-monitor", "none",
		"-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
		"-kernel", v.Kernel, "-initrd", v.Initrd, "-append", v.Cmdline,
		"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"}
	if v.Firmware != "" {
		args = append(args, "-bios", v.Firmware)
	}
	if v.Disk != "" {
		args = append(args, "-drive", "file="+v.Disk+",if=virtio,format=raw,snapshot=on")
	}
	if v.SNPSocket != "" {
		args = append(args, "-chardev", "socket,path="+v.SNPSocket+",id=snp", "-device", "virtio-serial",
			"-device", "virtserialport,chardev=snp,name="+SNPPortName)
	}
	if v.TPMSocket != "" {
		args = append(args, "-chardev", "socket,id=tpm,path="+v.TPMSocket, "-tpmdev", "emulator,id=tpm0,chardev=tpm",
			"-device", "tpm-tis,tpmdev=tpm0")
	}
	if v.QMPSocket != "" {
		args = append(args, "-qmp", "unix:"+v.QMPSocket+",server=on,wait=off",
			"-device", "pcie-root-port,id=hotplug0,bus=pcie.0,chassis=1")
	}
	return args, nil
}
