//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// DefaultBootTimeout is the hard limit of one VM under TCG.
const DefaultBootTimeout = 120 * time.Second

// BrokerRun is a broker to start for one boot.
type BrokerRun struct {
	Policy, TLSDir string
	Port           int
}

// BootSpec is one VM run with its helpers.
type BootSpec struct {
	Dir      string     // fresh directory for logs and the emulator socket
	Launch   Launch     // what QEMU boots and snpemu measures
	Firmware string     // what QEMU boots as firmware; "" means SeaBIOS
	Disk     string     // root disk image
	EmuState string     // snpemu state directory
	Broker   *BrokerRun // nil: no broker runs
	TPM      bool       // give the VM a TPM 2.0 (swtpm, fresh state in Dir)
	// Input, when set, is written to the serial console every InputEvery
	// (default 200 ms) until the VM exits.
	Input      []byte
	InputEvery time.Duration
	Timeout    time.Duration // 0 means DefaultBootTimeout
	MemMiB     int           // guest RAM; 0 means VM's default
	// QMP, when set, gives QEMU a QMP monitor on the unix socket QMPSocket(Dir)
	// (for hot-plugging devices during the boot).
	QMP bool
	// OnLine, when set, sees each complete serial line as it arrives (from
	// the goroutine reading QEMU's output: it must not block for long).
	OnLine func(Line)
}

// QMPSocket is the path of the QMP socket of a boot in dir.
func QMPSocket(dir string) string { return filepath.Join(dir, "qmp.sock") }

// Result is what a boot left behind.
type Result struct {
	Lines      []Line
	Raw        []byte
	SerialLog  string        // the serial output, as a file
	Elapsed    time.Duration // QEMU start until it exited or was killed
	PoweredOff bool          // QEMU exited by itself: the guest powered off
	TimedOut   bool          // the harness killed QEMU at the timeout
	Exit       error         // QEMU's exit error, if any
}

// Boot starts the helpers, boots the VM and waits until QEMU exits, the
// timeout passes or ctx ends. Every process it started is stopped before
// it returns, on every path.
func Boot(ctx context.Context, t Tools, b Binaries, s BootSpec) (*Result, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	stop, err := startHelpers(ctx, t, b, s)
	defer stop()
	if err != nil {
		return nil, err
	}
	return runVM(ctx, t, s)
}

// startHelpers starts the broker (if any) and the emulator; the returned
// function stops whatever was started.
func startHelpers(ctx context.Context, t Tools, b Binaries, s BootSpec) (func(), error) {
	var procs []*Proc
	var files []*os.File
	stop := func() {
		for _, p := range procs {
			p.Stop()
		}
		for _, f := range files {
			f.Close()
		}
	}
	if s.Broker != nil {
		log, err := os.Create(filepath.Join(s.Dir, "broker.log"))
		if err != nil {
			return stop, err
		}
		files = append(files, log)
		p, err := StartBroker(ctx, b, s.Broker.Policy, s.Broker.TLSDir, s.Broker.Port,
			filepath.Join(s.Dir, "audit.jsonl"), log)
		if err != nil {
			return stop, err
		}
		procs = append(procs, p)
	}
	log, err := os.Create(filepath.Join(s.Dir, "snpemu.log"))
	if err != nil {
		return stop, err
	}
	files = append(files, log)
	p, err := StartEmu(ctx, b, s.EmuState, filepath.Join(s.Dir, "snp.sock"), s.Launch, log)
	if err != nil {
		return stop, err
	}
	procs = append(procs, p)
	if s.TPM {
		p, err := StartSwtpm(ctx, t, s.Dir, log)
		if err != nil {
			return stop, err
		}
		procs = append(procs, p)
	}
	return stop, nil
}

func runVM(ctx context.Context, t Tools, s BootSpec) (*Result, error) {
	vm := VM{Firmware: s.Firmware, Kernel: s.Launch.Kernel, Initrd: s.Launch.Initrd, Cmdline: s.Launch.Cmdline,
		Disk: s.Disk, SNPSocket: filepath.Join(s.Dir, "snp.sock"), VCPUs: s.Launch.VCPUs, MemMiB: s.MemMiB}
	if s.QMP {
		vm.QMPSocket = QMPSocket(s.Dir)
	}
	if s.TPM {
		vm.TPMSocket = swtpmSocket(s.Dir)
	}
	args, err := vm.Args()
	if err != nil {
		return nil, err
	}
	res := &Result{SerialLog: filepath.Join(s.Dir, "serial.log")}
	logFile, err := os.Create(res.SerialLog)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer inW.Close()
	con := NewWatchedConsole(logFile, s.OnLine)
	start := time.Now()
	qemu, err := StartProc(t.QEMU, args, ProcIO{Stdin: inR, Stdout: con, Stderr: con})
	inR.Close()
	if err != nil {
		return nil, err
	}
	defer qemu.Kill()
	go typeInto(inW, s.Input, s.InputEvery, qemu.Done())
	res.PoweredOff, res.TimedOut, err = waitVM(ctx, qemu, s.Timeout)
	res.Elapsed = time.Since(start)
	qemu.Kill()
	res.Lines, res.Raw, res.Exit = con.Lines(), con.Raw(), qemu.Err()
	return res, err
}

// waitVM waits for QEMU to exit; it kills QEMU at the timeout (not an
// error: the result says so) or when ctx ends (an error).
func waitVM(ctx context.Context, qemu *Proc, timeout time.Duration) (exited, timedOut bool, err error) {
	if timeout == 0 {
		timeout = DefaultBootTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-qemu.Done():
		return true, false, nil
	case <-timer.C:
		qemu.Kill()
		return false, true, nil
	case <-ctx.Done():
		qemu.Kill()
		return false, false, fmt.Errorf("boot interrupted: %w", ctx.Err())
	}
}

// typeInto writes input to w every period until done is closed.
func typeInto(w io.Writer, input []byte, period time.Duration, done <-chan struct{}) {
	if len(input) == 0 {
		return
	}
	if period == 0 {
		period = 200 * time.Millisecond
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		if _, err := w.Write(input); err != nil {
			return
		}
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}
