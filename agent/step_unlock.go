package agent

import (
	"context"
	"fmt"

	"github.com/cvminit/cvminit/agent/tpm"
)

// stepUnlock takes the root disk's LUKS2 metadata region as read once and
// checked (disk.ReadMetadata: the header guard; by the key step's scout or
// now), refuses it unless its UUID and header identity are the ones
// released with the key (disk.ErrIdentityMismatch, checked before the key
// is used), and hands that checked copy with the key to the Unlocker,
// which recovers the volume key while device-mapper and the cipher may
// still be loading (stageCrypt, awaited before the table is loaded). The
// identity is then measured into the TPM (PCR 15).
func stepUnlock(ctx context.Context, s *State) error {
	root := s.rootMetadata()
	if root.err != nil {
		return root.err
	}
	meta, size := root.meta, root.size
	if err := meta.Match(s.DiskUUID, s.DiskIdentity); err != nil {
		return fmt.Errorf("%s: %w", s.RootDevice, err)
	}
	key := s.Key()
	if key.Len() == 0 {
		return fmt.Errorf("%w: no disk key", ErrKeyInvalid)
	}
	mapped, err := s.sys.Unlocker.Unlock(ctx, UnlockRequest{
		Device: s.RootDevice, Metadata: meta, DeviceSize: size, Key: key, Name: s.cryptName(),
		Ready: func(ctx context.Context) error { return s.awaitModules(ctx, stageCrypt) },
	})
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", s.RootDevice, err)
	}
	s.Mapped = mapped
	s.log.Info("root disk unlocked", "dev", s.RootDevice, "mapped", mapped)
	return s.measure(tpm.DiskEvent(s.DiskUUID, s.DiskIdentity))
}
