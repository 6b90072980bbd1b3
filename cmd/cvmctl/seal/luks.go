package seal

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/secret"
)

// LUKS2 parameters, inside SECURITY.md's allow-list and the same as the e2e
// disks (hack/e2e/disk.go). The key is KeySize random bytes, so KDF cost
// would buy nothing: pbkdf2 at its minimum of 1000 iterations.
const (
	LUKSCipher     = disk.Cipher
	LUKSKeyBits    = disk.VolumeKeySize * 8
	LUKSHash       = "sha256"
	LUKSPBKDF      = "pbkdf2"
	LUKSIterations = 1000
	LUKSSectorSize = 4096
	// luksReduce is the room made in front of the data for the header;
	// cryptsetup puts the data segment at half of it (512 KiB = 2 x 16 KiB
	// metadata + 480 KiB keyslots) and the other half ends up past the
	// volume, where it is cut off.
	luksReduce       = 1 << 20
	luksMetadataSize = "16k"
	luksKeyslotsSize = "480k"
)

// KeySize is the size in bytes of the disk key (the LUKS passphrase).
const KeySize = 32

// newKey returns KeySize fresh random bytes.
func newKey() (*secret.Buffer, error) {
	k := secret.New(KeySize)
	if _, err := rand.Read(k.Bytes()); err != nil {
		k.Wipe()
		return nil, fmt.Errorf("making the disk key: %w", err)
	}
	return k, nil
}

// keyDir makes a private 0700 directory for the key file, on the tmpfs
// /dev/shm when there is one, so the key never reaches a disk.
func keyDir(base string) (string, error) {
	if base == "" {
		base = "/dev/shm"
	}
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = ""
	}
	return os.MkdirTemp(base, "cvmctl-seal-key-")
}

// writeKeyFile writes key to a 0600 file in dir and returns its path and a
// function that overwrites and removes it.
func writeKeyFile(dir string, key *secret.Buffer) (string, func(), error) {
	path := filepath.Join(dir, "key")
	done := func() {
		_ = os.WriteFile(path, make([]byte, key.Len()), 0o600)
		_ = os.Remove(path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", nil, fmt.Errorf("writing the key file: %w", err)
	}
	_, err = f.Write(key.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		done()
		return "", nil, fmt.Errorf("writing the key file: %w", err)
	}
	return path, done, nil
}

// encrypt grows vol by the header room and encrypts it in place with
// `cryptsetup reencrypt --encrypt` (offline, on a plain file). Locks are
// disabled: the file is private, and cryptsetup's lock directory is
// root's. cryptsetup runs in vol's directory, where it keeps its temporary
// header file (LUKS2-temp-*.new). Progress comes from --progress-json.
func encrypt(ctx context.Context, cryptsetup, vol, keyFile, uuid string, onLine func(string)) error {
	fi, err := os.Stat(vol)
	if err != nil {
		return err
	}
	if err := os.Truncate(vol, fi.Size()+luksReduce); err != nil {
		return fmt.Errorf("making room for the LUKS2 header: %w", err)
	}
	_, err = runWith(ctx, filepath.Dir(vol), cryptsetup, onLine, &tailBuffer{max: maxStderr}, "reencrypt", "--encrypt", "--disable-locks", "--type", "luks2",
		"--batch-mode", "--cipher", LUKSCipher, "--key-size", strconv.Itoa(LUKSKeyBits), "--hash", LUKSHash,
		"--pbkdf", LUKSPBKDF, "--pbkdf-force-iterations", strconv.Itoa(LUKSIterations),
		"--sector-size", strconv.Itoa(LUKSSectorSize), "--luks2-metadata-size", luksMetadataSize,
		"--luks2-keyslots-size", luksKeyslotsSize, "--reduce-device-size", strconv.Itoa(luksReduce),
		"--uuid", uuid, "--key-file", keyFile, "--progress-json", "--progress-frequency", "1", vol)
	if err != nil {
		return fmt.Errorf("encrypting with LUKS2: %w", err)
	}
	return nil
}

// trimTail cuts the image to the data segment offset plus volBytes, so the
// decrypted volume is exactly file system + hash tree.
func trimTail(img, uuid string, volBytes int64) error {
	m, err := readHeader(img, uuid)
	if err != nil {
		return err
	}
	if m.Size != 0 || m.Offset != luksReduce/2 {
		return fmt.Errorf("%w: LUKS2 data segment at %d of size %d, want %d and dynamic", ErrSelfCheck,
			m.Offset, m.Size, luksReduce/2)
	}
	return os.Truncate(img, int64(m.Offset)+volBytes)
}

// readHeader runs the guest's header guard on img.
func readHeader(img, uuid string) (*disk.Metadata, error) {
	f, err := os.Open(img)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := disk.ReadMetadata(f, uint64(fi.Size()), uuid)
	if err != nil {
		return nil, fmt.Errorf("%w: the guest's header guard refuses the image: %w", ErrSelfCheck, err)
	}
	return m, nil
}

// checkSealed runs the guest's header guard and key check on img and
// returns the validated metadata; dir is a private directory for the
// detached header copy.
func checkSealed(img, uuid string, key *secret.Buffer, dir string, volBytes int64) (*disk.Metadata, error) {
	m, err := readHeader(img, uuid)
	if err != nil {
		return nil, err
	}
	if err := disk.CheckKey(m, key.Bytes(), dir); err != nil {
		return nil, fmt.Errorf("%w: the guest's key check: %w", ErrSelfCheck, err)
	}
	fi, err := os.Stat(img)
	if err != nil {
		return nil, err
	}
	if got := m.DataSize(uint64(fi.Size())); got != uint64(volBytes) {
		return nil, fmt.Errorf("%w: decrypted volume of %d bytes, want %d", ErrSelfCheck, got, volBytes)
	}
	if m.Identity() == "" {
		return nil, errors.Join(ErrSelfCheck, errors.New("no header identity"))
	}
	return m, nil
}
