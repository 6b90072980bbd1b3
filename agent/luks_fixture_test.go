package agent

import "github.com/cvminit/cvminit/agent/disk/disktest"

const testUUID = disktest.UUID

// luksFixture is a synthetic LUKS2 metadata region shaped like cryptsetup's
// (disktest.Fixture); mutate edits its JSON.
func luksFixture(uuid string, mutate func(j map[string]any)) []byte {
	return disktest.Fixture(uuid, mutate)
}
