package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/kbs"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/agent/snp"
)

// fake implements every Sys interface (and snp.Provider, KeyFetcher) in
// memory and records the calls made, in order.
type fake struct {
	mu    sync.Mutex
	calls []string

	files      map[string][]byte
	mountErr   map[string]error // by target
	mounts     []Mount          // every Mount call, in order
	dirs       map[string]fs.FileMode
	mkdirErr   map[string]error // by path
	lstatErr   map[string]error // by path
	modErr     map[string]error // by path
	netErr     error
	netHook    func(ctx context.Context) // runs inside Configure (block, panic)
	openErr    error
	reportErr  error
	debugBit   bool
	keyErr     error
	keyHook    func() // runs first in GetResource
	reportHook func() // runs first in GetReport (block)
	listFails  int    // List fails this many times first
	key        []byte
	keyBuf     *secret.Buffer // the raw payload buffer handed to the agent
	keyBytes   []byte         // its backing array, to check the wipe
	sealedID   string         // header_sha256 of the payload (resource nil)
	resource   []byte         // if set, released as is instead of a payload of key
	usedKey    *secret.Buffer // the key the Unlocker got
	usedBytes  []byte         // its backing array, to check the wipe
	disks      map[string][]byte
	unlockErr  error
	verity     *disk.Verity // the payload's verity member (nil: a version 1 payload)
	volSize    uint64       // size of the unlocked volume
	verityErr  error
	table      VerityTable // the table Create got
	checkErr   error
	switchErr  error
	kmsg       io.Writer // the kernel log OpenKmsg opens (nil: none)

	keyLenAtSwitch int
	sleeps         []time.Duration
	tpm            *fakeTPM // TPMs and Appender; nil: a working TPM
}

func (f *fake) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fake) called(prefix string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func (f *fake) sys() Sys {
	if f.tpm == nil {
		f.tpm = &fakeTPM{}
	}
	f.tpm.f = f
	return Sys{Mounter: f, Logs: f, Files: f, Modules: f, Net: f, Attest: f, Brokers: f, Blocks: f,
		Unlocker: f, Verity: f, Switcher: f, Power: f, Clock: f, TPM: f.tpm, Appender: f.tpm}
}

func (f *fake) MkdirAll(p string, perm fs.FileMode) error {
	f.record("mkdir %s %#o", p, perm)
	return f.mkdirErr[p]
}

func (f *fake) Mount(m Mount) error {
	f.record("mount %s %s %s", m.FSType, m.Source, m.Target)
	f.mu.Lock()
	f.mounts = append(f.mounts, m)
	f.mu.Unlock()
	return f.mountErr[m.Target]
}

// Lstat describes the directories in dirs; other paths do not exist.
func (f *fake) Lstat(p string) (fs.FileInfo, error) {
	if err := f.lstatErr[p]; err != nil {
		return nil, err
	}
	if m, ok := f.dirs[p]; ok {
		return fakeInfo{name: path.Base(p), mode: m}, nil
	}
	return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
}

// fakeInfo is the fs.FileInfo of a fake file.
type fakeInfo struct {
	name string
	mode fs.FileMode
}

func (i fakeInfo) Name() string       { return i.name }
func (i fakeInfo) Size() int64        { return 0 }
func (i fakeInfo) Mode() fs.FileMode  { return i.mode }
func (i fakeInfo) ModTime() time.Time { return time.Time{} }
func (i fakeInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fakeInfo) Sys() any           { return nil }

// OpenKmsg hands out f.kmsg as a kernel log whose rate limit was turned
// off (fakeKmsg); without one there is no kernel log.
func (f *fake) OpenKmsg() (io.Writer, error) {
	if f.kmsg == nil {
		return nil, fs.ErrNotExist
	}
	return fakeKmsg{f}, nil
}

// fakeKmsg writes to its fake's kmsg and records RestoreLimit.
type fakeKmsg struct{ f *fake }

func (k fakeKmsg) Write(b []byte) (int, error) { return k.f.kmsg.Write(b) }
func (k fakeKmsg) RestoreLimit() error         { k.f.record("kmsg limit restored"); return nil }

func (f *fake) OpenConsole() (io.Writer, error) { return nil, fs.ErrNotExist }

func (f *fake) ReadFile(name string) ([]byte, error) {
	if b, ok := f.files[name]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
}

func (f *fake) Load(p string) error { f.record("load %s", p); return f.modErr[p] }

func (f *fake) Configure(ctx context.Context, n config.Network) (string, error) {
	f.record("net %s", n.Interface)
	if f.netHook != nil {
		f.netHook(ctx)
	}
	return n.Address, f.netErr
}

func (f *fake) Open(name string, o snp.Options) (snp.Provider, error) {
	f.record("attest open %s port=%s", name, o.Port)
	return f, f.openErr
}

// GetReport makes a report as the ABI lays it out: POLICY at 0x08 with the
// must-be-one bit 17 (and DEBUG bit 19 if asked), REPORT_DATA at 0x50.
func (f *fake) GetReport(_ context.Context, rd [64]byte) (*snp.Evidence, error) {
	f.record("report")
	if f.reportHook != nil {
		f.reportHook()
	}
	if f.reportErr != nil {
		return nil, f.reportErr
	}
	r := make([]byte, snp.ReportSize)
	binary.LittleEndian.PutUint32(r[0:], 3)
	policy := uint64(1 << 17)
	if f.debugBit {
		policy |= 1 << 19
	}
	binary.LittleEndian.PutUint64(r[0x08:], policy)
	copy(r[0x50:], rd[:])
	copy(r[0x90:0xC0], bytes.Repeat([]byte{0xAB}, 48))
	return &snp.Evidence{Report: r}, nil
}

func (f *fake) Client(o kbs.Options) (KeyFetcher, error) {
	f.record("broker client %s", o.URL)
	return f, nil
}

func (f *fake) Preconnect() { f.record("broker preconnect") }

func (f *fake) GetResource(ctx context.Context, r kbs.Reporter, path string) (*secret.Buffer, error) {
	f.record("broker get %s", path)
	if f.keyHook != nil {
		f.keyHook()
	}
	rd := [64]byte{1, 2, 3}
	report, _, err := r.GetEvidence(ctx, rd)
	if err != nil {
		return nil, fmt.Errorf("getting resource %s: getting SNP report: %w", path, err)
	}
	if !bytes.Equal(report[0x50:0x90], rd[:]) {
		return nil, fmt.Errorf("report does not bind the request")
	}
	if f.keyErr != nil {
		return nil, f.keyErr
	}
	res := f.resource
	if res == nil {
		res = payloadJSON(f.key, testUUID, f.sealedID, f.verity)
	}
	f.keyBuf = secret.FromBytes(bytes.Clone(res))
	f.keyBytes = f.keyBuf.Bytes()
	return f.keyBuf, nil
}

func (f *fake) List() ([]string, error) {
	f.record("list")
	f.mu.Lock()
	fail := f.listFails > 0
	f.listFails--
	f.mu.Unlock()
	if fail {
		return nil, errors.New("sysfs unreadable")
	}
	var names []string
	for n := range f.disks {
		names = append(names, n)
	}
	return append(names, "loop0", "sr0"), nil
}

func (f *fake) ReadHeader(name string, n int) ([]byte, error) {
	d, ok := f.disks[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	if n > len(d) {
		return nil, io.ErrUnexpectedEOF
	}
	return bytes.Clone(d[:n]), nil
}

func (f *fake) Size(name string) (uint64, error) { return uint64(len(f.disks[name])) + 1<<20, nil }

func (f *fake) Unlock(ctx context.Context, r UnlockRequest) (string, error) {
	f.record("unlock %s %s key=%d meta=%d", r.Device, r.Name, r.Key.Len(), len(r.Metadata.Region))
	f.usedKey, f.usedBytes = r.Key, r.Key.Bytes()
	if r.Ready != nil {
		if err := r.Ready(ctx); err != nil {
			return "", err
		}
	}
	if f.unlockErr != nil {
		return "", f.unlockErr
	}
	return "/dev/mapper/" + r.Name, nil
}

func (f *fake) DeviceSize(p string) (uint64, error) {
	f.record("verity size %s", p)
	return f.volSize, nil
}

func (f *fake) Create(_ context.Context, name string, t VerityTable) (string, error) {
	f.record("verity create %s", name)
	f.table = t
	if f.verityErr != nil {
		return "", f.verityErr
	}
	return "/dev/mapper/" + name, nil
}

func (f *fake) Check(newRoot, init string) error {
	f.record("check %s %s", newRoot, init)
	f.keyLenAtSwitch = f.keyBuf.Len() + f.usedKey.Len()
	return f.checkErr
}

func (f *fake) SwitchRoot(newRoot, init string) error {
	f.record("switchroot %s %s", newRoot, init)
	f.keyLenAtSwitch += f.keyBuf.Len() + f.usedKey.Len()
	return f.switchErr
}

func (f *fake) PowerOff() error { f.record("poweroff"); return nil }
func (f *fake) Reboot() error   { f.record("reboot"); return nil }
func (f *fake) Now() time.Time  { return time.Now() }

// Sleep records d and sleeps at most 5ms of it.
func (f *fake) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	f.mu.Unlock()
	t := time.NewTimer(min(d, 5*time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// payloadJSON is a broker payload as cvmctl writes it: version 1, or
// version 2 with the verity member when v is set.
func payloadJSON(key []byte, uuid, identity string, v *disk.Verity) []byte {
	b := fmt.Appendf(nil, `{"version":%d,"key":"%s","luks_uuid":"%s","header_sha256":"%s"`,
		map[bool]int{false: 1, true: 2}[v != nil], base64.StdEncoding.EncodeToString(key), uuid, identity)
	if v != nil {
		b = fmt.Appendf(b, `,"verity":{"root_hash":"%s","salt":"%s","algorithm":"%s","data_block_size":%d,`+
			`"hash_block_size":%d,"data_blocks":%d,"hash_offset":%d}`, v.RootHash, v.Salt, v.Algorithm,
			v.DataBlockSize, v.HashBlockSize, v.DataBlocks, v.HashOffset)
	}
	return append(b, '}')
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
