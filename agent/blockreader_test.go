package agent

import (
	"errors"
	"testing"

	"github.com/cvminit/cvminit/agent/disk"
	"github.com/cvminit/cvminit/agent/disk/disktest"
	"github.com/cvminit/cvminit/agent/klog"
)

// The guard's own tests are in agent/disk; these check the agent's use of it.

func TestHeaderRejectedIsTheGuardsSentinel(t *testing.T) {
	err := errors.Join(errors.New("x"), disk.ErrHeaderRejected)
	if !errors.Is(err, ErrHeaderRejected) || classify(err, klog.CodeInternal) != klog.CodeHeaderRejected {
		t.Errorf("disk.ErrHeaderRejected does not map to %s", klog.CodeHeaderRejected)
	}
}

func TestBlockReaderReadsTheFixture(t *testing.T) {
	f := &fake{disks: map[string][]byte{"vda": luksFixture(testUUID, nil)}}
	m, err := disk.ReadMetadata(blockReader{f, "vda"}, 1<<20, testUUID)
	if err != nil {
		t.Fatalf("ReadMetadata: %v", err)
	}
	if m.Offset != disktest.FixtureOffset || len(m.Region) != disktest.FixtureOffset || m.SectorSize != 512 {
		t.Errorf("layout %+v, region %d bytes; want offset %d, sector 512", m.Layout, len(m.Region), disktest.FixtureOffset)
	}
	if _, err := disk.ReadMetadata(blockReader{f, "vda"}, 1<<20, "11111111-2222-3333-4444-555555555555"); !errors.Is(err, ErrHeaderRejected) {
		t.Errorf("other UUID: %v, want ErrHeaderRejected", err)
	}
	if _, err := (blockReader{f, "vda"}).ReadAt(make([]byte, 10), disktest.FixtureOffset); err == nil {
		t.Error("ReadAt past the end succeeded")
	}
}
