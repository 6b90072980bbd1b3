package agent

import (
	"errors"
	"fmt"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/klog"
)

// Outcomes callers (and the failure-code mapping) branch on.
var (
	// ErrAttestation: the SNP report provider could not be opened or did
	// not produce a usable report.
	ErrAttestation = errors.New("SNP attestation unavailable")
	// ErrKeyInvalid: the broker released something that cannot be a disk key.
	ErrKeyInvalid = errors.New("released key is unusable")
	// ErrRootNotFound: no block device carries the configured LUKS UUID.
	ErrRootNotFound = errors.New("root disk not found")
	// ErrRootAmbiguous: more than one block device carries the LUKS UUID.
	ErrRootAmbiguous = errors.New("more than one disk carries the root LUKS UUID")
	// ErrHeaderRejected: the root disk's LUKS2 header failed the header
	// guard (the same sentinel as disk.ErrHeaderRejected).
	ErrHeaderRejected = disk.ErrHeaderRejected
	// ErrIdentityMismatch: the root disk is not the one the released key
	// was sealed for (the same sentinel as disk.ErrIdentityMismatch).
	ErrIdentityMismatch = disk.ErrIdentityMismatch
	// ErrIntegrity: the root's dm-verity protection cannot be had: the
	// payload describes no hash tree although disk.integrity is "verity",
	// its root hash is not the pinned one, or the unlocked volume cannot
	// hold the tree it describes.
	ErrIntegrity = errors.New("dm-verity refused")
	// ErrPanic: a step panicked.
	ErrPanic = errors.New("step panicked")
	// ErrModules: a kernel module failed to load (in the background, seen
	// by the step that waits for it).
	ErrModules = errors.New("kernel module not loaded")
	// ErrNoDebugShell: a debug image has no shell to offer (it was built
	// without --debug-tools).
	ErrNoDebugShell = errors.New("no debug shell in the image")
	// ErrUnsupported: the real Sys is not available on this platform.
	ErrUnsupported = errors.New("not supported on this platform")
)

// errAfterFinal marks a failure after the OK status line was printed
// (exec of init failed): the failure policy still runs, without a second
// final line.
var errAfterFinal = errors.New("failed after the OK status line")

// BootError is what Run returns when the boot failed: the failure code and
// step printed on the status line, and the underlying error.
type BootError struct {
	Code klog.Code
	Step string
	Err  error
}

// Error describes the failure with its step and code.
func (e *BootError) Error() string {
	return fmt.Sprintf("boot failed in step %s (%s): %v", e.Step, e.Code, e.Err)
}

// Unwrap returns the step's error.
func (e *BootError) Unwrap() error { return e.Err }
