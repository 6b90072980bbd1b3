//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/secret"
	"github.com/cvminit/cvminit/cmd/cvmctl/seal"
)

// LUKS2 parameters of the host-made e2e disks (SealDisk): cvmctl seal's, so
// that only what a scenario changes differs from a sealed disk.
const (
	LUKSCipher     = seal.LUKSCipher
	LUKSKeyBits    = seal.LUKSKeyBits
	LUKSPBKDF      = seal.LUKSPBKDF
	LUKSHash       = seal.LUKSHash
	LUKSIterations = seal.LUKSIterations
	// luksReduce is the room made in front of the data for the header:
	// cryptsetup puts the data segment at half of it (512 KiB = 2 x 16 KiB
	// metadata + 480 KiB keyslots, room for the one 256000-byte keyslot).
	luksReduce       = 1 << 20
	luksMetadataSize = "16k"
	luksKeyslotsSize = "480k"
)

// KeySize is the size in bytes of a disk key (the LUKS passphrase).
const KeySize = 32

// Seal describes a LUKS2 disk to make from a file-system image.
type Seal struct {
	FSImage    string // plain file-system image; left unchanged
	Output     string // disk image to write
	Key        []byte // KeySize bytes, used as the LUKS passphrase
	UUID       string // LUKS UUID to record in the header
	SectorSize int    // 512 or 4096; 0 means 4096
}

// SealDisk copies s.FSImage to s.Output, grows it by the header room and
// encrypts it in place with `cryptsetup reencrypt --encrypt` (offline, on a
// plain file: no device-mapper, no loop device). The key reaches cryptsetup
// through --key-file, a 0600 file in a private temporary directory that is
// overwritten and removed afterwards; it is never on a command line.
// cryptsetup's locks are disabled: the files are private to the caller, and
// its lock directory (/run/cryptsetup) is writable only by root.
func SealDisk(ctx context.Context, t Tools, s Seal) error {
	if len(s.Key) != KeySize {
		return fmt.Errorf("disk key of %d bytes, want %d", len(s.Key), KeySize)
	}
	sector := s.SectorSize
	if sector == 0 {
		sector = 4096
	}
	if err := copyFile(s.FSImage, s.Output); err != nil {
		return fmt.Errorf("copying file system image: %w", err)
	}
	if err := growFile(s.Output, luksReduce); err != nil {
		return err
	}
	keyFile, done, err := privateKeyFile(s.Key)
	if err != nil {
		return err
	}
	defer done()
	_, err = runTool(ctx, "", t.Cryptsetup, "reencrypt", "--encrypt", "--disable-locks", "--type", "luks2",
		"--batch-mode", "--cipher", LUKSCipher, "--key-size", strconv.Itoa(LUKSKeyBits), "--hash", LUKSHash,
		"--pbkdf", LUKSPBKDF, "--pbkdf-force-iterations", strconv.Itoa(LUKSIterations),
		"--sector-size", strconv.Itoa(sector), "--luks2-metadata-size", luksMetadataSize,
		"--luks2-keyslots-size", luksKeyslotsSize, "--reduce-device-size", strconv.Itoa(luksReduce),
		"--uuid", s.UUID, "--key-file", keyFile, s.Output)
	if err != nil {
		return fmt.Errorf("sealing %s: %w", s.Output, err)
	}
	return nil
}

// WritePayload writes the broker resource for a sealed disk image to out
// (0600): the disk.Payload holding key together with the LUKS UUID and the
// header identity that disk.ReadMetadata (the guest's header guard) reads
// from the image, as `cvmctl disk identity` prints it.
func WritePayload(image string, key []byte, out string) error {
	f, err := os.Open(image)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m, err := disk.ReadMetadata(f, uint64(fi.Size()), "")
	if err != nil {
		return fmt.Errorf("reading the sealed header of %s: %w", image, err)
	}
	k := secret.FromBytes(bytes.Clone(key))
	defer k.Wipe()
	b, err := disk.Payload{Key: k, LUKSUUID: m.UUID, HeaderSHA256: m.Identity()}.Marshal()
	if err != nil {
		return err
	}
	defer clear(b)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return fmt.Errorf("writing the disk payload: %w", err)
	}
	return nil
}

// privateKeyFile writes key to a 0600 file in a fresh 0700 directory,
// preferring the tmpfs /dev/shm, and returns its path and a function that
// overwrites and removes it.
func privateKeyFile(key []byte) (string, func(), error) {
	base := "/dev/shm"
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = ""
	}
	dir, err := os.MkdirTemp(base, "e2e-key-")
	if err != nil {
		return "", nil, fmt.Errorf("creating key directory: %w", err)
	}
	path := dir + "/key"
	done := func() {
		_ = os.WriteFile(path, make([]byte, len(key)), 0o600)
		_ = os.RemoveAll(dir)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		done()
		return "", nil, fmt.Errorf("writing key file: %w", err)
	}
	return path, done, nil
}

// CheckKey reports whether key opens the LUKS keyslot of disk (`cryptsetup
// open --test-passphrase`; nothing is activated).
func CheckKey(ctx context.Context, t Tools, disk string, key []byte) error {
	keyFile, done, err := privateKeyFile(key)
	if err != nil {
		return err
	}
	defer done()
	_, err = runTool(ctx, "", t.Cryptsetup, "open", "--test-passphrase", "--disable-locks", "--key-file", keyFile, disk)
	return err
}

// LUKSMetadata returns the LUKS2 JSON metadata of disk
// (`cryptsetup luksDump --dump-json-metadata`).
func LUKSMetadata(ctx context.Context, t Tools, disk string) ([]byte, error) {
	return runTool(ctx, "", t.Cryptsetup, "luksDump", "--disable-locks", "--dump-json-metadata", disk)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func growFile(path string, by int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if err := os.Truncate(path, fi.Size()+by); err != nil {
		return fmt.Errorf("growing %s: %w", path, err)
	}
	return nil
}

// SealVerity seals the file-system image fsImage into out the way operators
// do, with `cvmctl seal` (dm-verity tree inside a LUKS2 volume under a fresh
// key), recording uuid, and writes the broker resource to payload (0600).
// It returns the disk key read back from the payload: the tests' canary.
func SealVerity(ctx context.Context, b Binaries, fsImage, out, uuid, payload string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(payload), 0o700); err != nil {
		return nil, err
	}
	_ = os.Remove(payload)
	if _, err := runTool(ctx, "", b.Cvmctl, "seal", "--quiet", "--force", "--fs-image", fsImage, "--out", out,
		"--uuid", uuid, "--payload", payload); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(payload)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	p, err := disk.ParsePayload(raw)
	if err != nil {
		return nil, fmt.Errorf("payload of %s: %w", out, err)
	}
	defer p.Key.Wipe()
	if p.Verity == nil {
		return nil, fmt.Errorf("payload of %s describes no dm-verity tree", out)
	}
	return bytes.Clone(p.Key.Bytes()), nil
}

// ReadVerity returns the dm-verity description in a payload file.
func ReadVerity(payload string) (*disk.Verity, error) {
	raw, err := os.ReadFile(payload)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	p, err := disk.ParsePayload(raw)
	if err != nil {
		return nil, err
	}
	p.Key.Wipe()
	if p.Verity == nil {
		return nil, fmt.Errorf("%s describes no dm-verity tree", payload)
	}
	return p.Verity, nil
}
