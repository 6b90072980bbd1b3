package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/cvminit/cvminit/agent/tpm"
)

// fakeTPM is the harness's TPM (TPMs and tpm.Device) and event log file
// (Appender): it records the extensions and the log bytes, and fails
// where a test asks it to. Calls go to the fake's call log as
// "tpm open", "tpm extend <pcr>", "tpm close", "log open <name>".
type fakeTPM struct {
	f *fake

	absent    bool          // Open fails with tpm.ErrNoTPM
	openErr   error         // Open fails with this
	extendErr map[int]error // by extension number, counted from 1
	closeErr  error

	logOpenErr  error
	logWriteErr error // every write fails
	logPerm     fs.FileMode
	logOpened   bool

	mu        sync.Mutex
	extends   []tpm.Event // PCR and digest as extended; no names
	log       bytes.Buffer
	devClosed bool
	logClosed bool
}

func (t *fakeTPM) Open() (tpm.Device, error) {
	t.f.record("tpm open")
	switch {
	case t.absent:
		return nil, fmt.Errorf("opening TPM: %w", tpm.ErrNoTPM)
	case t.openErr != nil:
		return nil, t.openErr
	}
	return t, nil
}

func (t *fakeTPM) Extend(pcr int, digest [32]byte) error {
	t.f.record("tpm extend %d", pcr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.devClosed {
		return errors.New("extend after close")
	}
	if err := t.extendErr[len(t.extends)+1]; err != nil {
		return err
	}
	t.extends = append(t.extends, tpm.Event{PCR: pcr, Digest: digest})
	return nil
}

// ReadPCR replays the recorded extensions.
func (t *fakeTPM) ReadPCR(pcr int) ([32]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tpm.Replay(t.extends)[pcr], nil
}

func (t *fakeTPM) Close() error {
	t.f.record("tpm close")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.devClosed = true
	return t.closeErr
}

func (t *fakeTPM) OpenAppend(name string, perm fs.FileMode) (io.WriteCloser, error) {
	t.f.record("log open %s", name)
	if t.logOpenErr != nil {
		return nil, t.logOpenErr
	}
	t.logPerm, t.logOpened = perm, true
	return fakeLog{t}, nil
}

// fakeLog is the open event log file.
type fakeLog struct{ t *fakeTPM }

func (l fakeLog) Write(p []byte) (int, error) {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	if l.t.logClosed {
		return 0, fs.ErrClosed
	}
	if l.t.logWriteErr != nil {
		return 0, l.t.logWriteErr
	}
	return l.t.log.Write(p)
}

func (l fakeLog) Close() error {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	l.t.logClosed = true
	return nil
}

// recorded returns the extensions made so far.
func (t *fakeTPM) recorded() []tpm.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]tpm.Event(nil), t.extends...)
}

// logBytes returns the event log written so far.
func (t *fakeTPM) logBytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.log.Bytes())
}
