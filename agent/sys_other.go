//go:build !linux

package agent

import (
	"context"
	"io"
	"io/fs"
	"os"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/snp"
	"github.com/cvminit/cvminit/agent/tpm"
)

// LinuxSys returns, off Linux, a Sys whose every operation fails with
// ErrUnsupported (the clock works), so that the package builds and its
// tests run anywhere.
func LinuxSys() Sys {
	u := unsupported{}
	return Sys{Mounter: u, Logs: u, Files: u, Modules: u, Net: u, Attest: u, Brokers: u, Blocks: u,
		Unlocker: u, Verity: u, Switcher: u, Power: u, Clock: SystemClock{}, TPM: unsupportedTPM{}, Appender: u}
}

// NewConsole returns f: off Linux there is no tcdrain to offer.
func NewConsole(f *os.File) io.Writer { return f }

// QuietConsole is unsupported off Linux.
func QuietConsole(*os.File) error { return ErrUnsupported }

type unsupported struct{}

func (unsupported) MkdirAll(string, fs.FileMode) error             { return ErrUnsupported }
func (unsupported) Lstat(string) (fs.FileInfo, error)              { return nil, ErrUnsupported }
func (unsupported) DeviceSize(string) (uint64, error)              { return 0, ErrUnsupported }
func (unsupported) Mount(Mount) error                              { return ErrUnsupported }
func (unsupported) OpenKmsg() (io.Writer, error)                   { return nil, ErrUnsupported }
func (unsupported) OpenConsole() (io.Writer, error)                { return nil, ErrUnsupported }
func (unsupported) ReadFile(string) ([]byte, error)                { return nil, ErrUnsupported }
func (unsupported) Load(string) error                              { return ErrUnsupported }
func (unsupported) Open(string, snp.Options) (snp.Provider, error) { return nil, ErrUnsupported }
func (unsupported) Client(kbs.Options) (KeyFetcher, error)         { return nil, ErrUnsupported }
func (unsupported) List() ([]string, error)                        { return nil, ErrUnsupported }
func (unsupported) ReadHeader(string, int) ([]byte, error)         { return nil, ErrUnsupported }
func (unsupported) Size(string) (uint64, error)                    { return 0, ErrUnsupported }
func (unsupported) Check(string, string) error                     { return ErrUnsupported }
func (unsupported) SwitchRoot(string, string) error                { return ErrUnsupported }
func (unsupported) PowerOff() error                                { return ErrUnsupported }
func (unsupported) Reboot() error                                  { return ErrUnsupported }

func (unsupported) OpenAppend(string, fs.FileMode) (io.WriteCloser, error) {
	return nil, ErrUnsupported
}

type unsupportedTPM struct{}

func (unsupportedTPM) Open() (tpm.Device, error) { return nil, ErrUnsupported }

func (unsupported) Configure(context.Context, config.Network) (string, error) {
	return "", ErrUnsupported
}

func (unsupported) Unlock(context.Context, UnlockRequest) (string, error) {
	return "", ErrUnsupported
}

func (unsupported) Create(context.Context, string, VerityTable) (string, error) {
	return "", ErrUnsupported
}
