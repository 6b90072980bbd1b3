package agent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cvminit/cvminit/agent/tpm"
)

// ErrTPM: the boot could not be measured into the TPM (TPM_FAILED): the
// TPM could not be opened (or tpm.mode required found none), an extension
// failed, or the event log could not be written.
var ErrTPM = errors.New("TPM measurement failed")

// BootInputs are the values a measured boot measures (agent/tpm's scheme).
type BootInputs struct {
	// Binary is the cvminit executable: /proc/self/exe in the guest, the
	// initramfs's /init in cvmctl.
	Binary []byte
	// Config is the exact bytes of the initramfs's /etc/cvminit/config.json.
	Config []byte
	// Cmdline is the kernel command line as /proc/cmdline shows it
	// (tpm.CmdlineEvent trims surrounding white space).
	Cmdline string
	// LUKSUUID and HeaderSHA256 are the identity of the unlocked root disk:
	// the payload's luks_uuid and header_sha256.
	LUKSUUID, HeaderSHA256 string
	// VerityRootHash is the dm-verity root hash; "" when the root gets no
	// dm-verity device (disk.integrity none and a payload without a tree).
	VerityRootHash string
}

// BootEvents returns the events a successful measured boot makes, in the
// order cvminit makes them: the tpm step's (binary, config, enter-initrd,
// command line), the unlock step's disk identity, the verity step's root
// hash, and leave-initrd just before switch_root. Replaying them
// (tpm.Replay) gives the final PCR values.
func BootEvents(in BootInputs) []tpm.Event {
	ev := enterEvents(in.Binary, in.Config, in.Cmdline)
	ev = append(ev, tpm.DiskEvent(in.LUKSUUID, in.HeaderSHA256))
	if in.VerityRootHash != "" {
		ev = append(ev, tpm.VerityEvent(in.VerityRootHash))
	}
	return append(ev, leaveEvent())
}

// enterEvents are the events the tpm step measures, in order.
func enterEvents(exe, configJSON []byte, cmdline string) []tpm.Event {
	return []tpm.Event{
		tpm.BinaryEvent(exe),
		tpm.ConfigEvent(configJSON),
		tpm.PhaseEvent(tpm.PhaseEnterInitrd),
		tpm.CmdlineEvent(cmdline),
	}
}

// leaveEvent is the last event, measured just before switch_root.
func leaveEvent() tpm.Event { return tpm.PhaseEvent(tpm.PhaseLeaveInitrd) }

// measure extends the TPM with e and appends its record to the event log;
// without an open TPM (tpm.mode off, no TPM, or after closing) it does
// nothing. Errors wrap ErrTPM.
func (s *State) measure(e tpm.Event) error {
	ok, err := s.tpm.extend(e)
	if err != nil {
		return fmt.Errorf("%w: %s into PCR %d: %w", ErrTPM, e.Name, e.PCR, err)
	}
	if ok {
		s.log.Info("measured", "pcr", e.PCR, "event", e.Name, "sha256", hex.EncodeToString(e.Digest[:]))
	}
	return nil
}

// closeTPM closes the TPM and the event log, if open; measure does
// nothing afterwards.
func (s *State) closeTPM() error {
	if err := s.tpm.close(); err != nil {
		return fmt.Errorf("%w: closing: %w", ErrTPM, err)
	}
	return nil
}

// measurer is the open TPM and event log of a measured boot. A step that
// outlived the deadline may still call extend while the failure policy
// closes it: the mutex orders them.
type measurer struct {
	mu     sync.Mutex
	dev    tpm.Device
	log    io.WriteCloser
	closed bool
}

// start keeps dev and log. Once closed it closes them instead and
// reports false.
func (m *measurer) start(dev tpm.Device, log io.WriteCloser) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		_ = log.Close()
		_ = dev.Close()
		return false
	}
	m.dev, m.log = dev, log
	return true
}

// extend extends e.PCR with e.Digest and then appends e's record (one
// write), reporting whether a TPM was there to measure into.
func (m *measurer) extend(e tpm.Event) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dev == nil {
		return false, nil
	}
	if err := m.dev.Extend(e.PCR, e.Digest); err != nil {
		return true, fmt.Errorf("extending: %w", err)
	}
	var rec bytes.Buffer
	if err := tpm.WriteRecord(&rec, e); err != nil {
		return true, fmt.Errorf("event log record: %w", err)
	}
	if _, err := m.log.Write(rec.Bytes()); err != nil {
		return true, fmt.Errorf("writing %s: %w", tpm.LogPath, err)
	}
	return true, nil
}

// close closes the event log and the TPM; later starts and extends do
// nothing.
func (m *measurer) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.dev == nil {
		return nil
	}
	err := errors.Join(m.log.Close(), m.dev.Close())
	m.dev, m.log = nil, nil
	return err
}
