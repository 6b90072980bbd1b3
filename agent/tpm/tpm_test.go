package tpm

import (
	"crypto/sha256"
	"testing"
)

func TestMeasure(t *testing.T) {
	data := []byte("some measured bytes")
	e := Measure(PCRVolume, "thing", data)
	want := Event{PCR: 15, Name: "thing", Digest: sha256.Sum256(data)}
	if e != want {
		t.Fatalf("Measure = %+v, want %+v", e, want)
	}
}

// TestSchemeEvents pins each constructor to the spec table: PCR, name and
// the exact measured bytes (hashed here with crypto/sha256 directly).
func TestSchemeEvents(t *testing.T) {
	const hdr = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF"
	tests := []struct {
		got      Event
		pcr      int
		name     string
		measured string
	}{
		{BinaryEvent([]byte("\x7fELF exe")), 11, "cvminit-binary", "\x7fELF exe"},
		{ConfigEvent([]byte(`{"a":1}`)), 11, "cvminit-config", `{"a":1}`},
		{PhaseEvent(PhaseEnterInitrd), 11, "enter-initrd", "enter-initrd"},
		{PhaseEvent(PhaseLeaveInitrd), 11, "leave-initrd", "leave-initrd"},
		{CmdlineEvent("  console=ttyS0 root=/dev/vda ro\n"), 12, "kernel-cmdline", "console=ttyS0 root=/dev/vda ro"},
		{CmdlineEvent("console=ttyS0 root=/dev/vda ro"), 12, "kernel-cmdline", "console=ttyS0 root=/dev/vda ro"},
		{DiskEvent("3F1C2E4A-0000-4000-8000-00000000ABCD", hdr), 15, "luks-identity",
			"luks_uuid=3f1c2e4a-0000-4000-8000-00000000abcd header_sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
		{VerityEvent(hdr), 15, "verity-root-hash",
			"verity_root_hash=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	for _, tt := range tests {
		want := Event{PCR: tt.pcr, Name: tt.name, Digest: sha256.Sum256([]byte(tt.measured))}
		if tt.got != want {
			t.Errorf("%s: got %+v, want %+v (measuring %q)", tt.name, tt.got, want, tt.measured)
		}
	}
}

// TestReplayByHand replays two events on PCR 11 and one on PCR 12 with
// SHA-256(old || digest) written out step by step.
func TestReplayByHand(t *testing.T) {
	d1 := sha256.Sum256([]byte("first"))
	d2 := sha256.Sum256([]byte("second"))
	d3 := sha256.Sum256([]byte("cmdline"))
	events := []Event{{11, "a", d1}, {12, "c", d3}, {11, "b", d2}}

	var zero [32]byte
	step1 := sha256.Sum256(append(zero[:], d1[:]...))
	pcr11 := sha256.Sum256(append(step1[:], d2[:]...))
	pcr12 := sha256.Sum256(append(zero[:], d3[:]...))

	got := Replay(events)
	if len(got) != 2 || got[11] != pcr11 || got[12] != pcr12 {
		t.Fatalf("Replay = %x, want {11: %x, 12: %x}", got, pcr11, pcr12)
	}
	// Order matters: swapping the two PCR 11 events changes the value.
	if swapped := Replay([]Event{events[2], events[0]}); swapped[11] == pcr11 {
		t.Fatal("Replay ignores event order")
	}
}

func TestReplayEmpty(t *testing.T) {
	if got := Replay(nil); len(got) != 0 {
		t.Fatalf("Replay(nil) = %x, want no PCRs", got)
	}
}
