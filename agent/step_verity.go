package agent

import (
	"context"
	"fmt"

	"github.com/cvminit/cvminit/agent/tpm"
)

// stepVerity puts a dm-verity device over the unlocked volume, so that
// every block of the root file system is checked against the root hash
// released with the key: data and tree both live in the dm-crypt device
// (the file system, then the tree at the payload's hash_offset). The
// volume must be large enough for both before the table is made. The
// device takes disk.name; the OK status line's root= names it. Its root
// hash is then measured into the TPM (PCR 15).
//
// Without a dm-verity description (only disk.integrity "none" lets a
// payload without one through the key step) the step ends ok after a
// warning: the root is then used without integrity protection.
func stepVerity(ctx context.Context, s *State) error {
	v := s.Verity
	if v == nil {
		s.log.Warn("INSECURE: disk.integrity is none: the root file system has no integrity protection (H6)")
		return nil
	}
	t, err := newVerityTable(s.Mapped, v)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	size, err := s.sys.Verity.DeviceSize(s.Mapped)
	if err != nil {
		return fmt.Errorf("size of %s: %w", s.Mapped, err)
	}
	if err := checkVolumeSize(s.Mapped, size, v); err != nil {
		return err
	}
	name := s.Config.Disk.Name
	dev, err := s.sys.Verity.Create(ctx, name, t)
	if err != nil {
		return fmt.Errorf("creating dm-verity device %s over %s: %w", name, s.Mapped, err)
	}
	s.Verified = dev
	s.log.Info("dm-verity device created", "dev", dev, "over", s.Mapped, "root_hash", v.RootHash,
		"data_blocks", v.DataBlocks)
	return s.measure(tpm.VerityEvent(v.RootHash))
}
