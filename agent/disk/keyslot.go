package disk

import (
	"encoding/base64"
	"sort"
)

// KDF cost caps: a header the host wrote must not be able to make key
// derivation exhaust the guest's memory or the boot deadline.
const (
	minPBKDF2Iter = 1000      // cryptsetup's own minimum
	maxPBKDF2Iter = 1_000_000 // keyslot KDF (cvmctl seal uses 1000)
	maxDigestIter = 10_000_000
	// MaxArgon2MemoryKiB is the most memory an argon2 keyslot may ask for
	// (1 GiB, cryptsetup's own maximum); guests are sized for it.
	MaxArgon2MemoryKiB = 1 << 20
	minArgon2MemoryKiB = 32 // cryptsetup's minimum
	maxArgon2CPUs      = 4
	// maxArgon2Work bounds time × memory (KiB): 4 passes over 1 GiB.
	maxArgon2Work = 4 << 20
)

// areaSize is the minimum keyslot area: key_size × stripes bytes of split key.
const areaSize = VolumeKeySize * afStripes

type span struct {
	id       string
	off, end uint64
}

// checkKeyslots checks every keyslot and that the areas lie, 4096-aligned,
// inside the keyslots region [lo, hi) without overlapping each other; it
// returns the areas sorted by offset.
func checkKeyslots(slots map[string]keyslotJSON, lo, hi uint64) ([]span, error) {
	if len(slots) == 0 || len(slots) > maxKeyslots {
		return nil, rejectf("%d keyslots, want 1..%d", len(slots), maxKeyslots)
	}
	spans := make([]span, 0, len(slots))
	for k, s := range slots {
		sp, err := checkKeyslot(k, s, lo, hi)
		if err != nil {
			return nil, err
		}
		spans = append(spans, sp)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			return nil, rejectf("keyslots.%s.area overlaps keyslots.%s.area", spans[i].id, spans[i-1].id)
		}
	}
	return spans, nil
}

func checkKeyslot(k string, s keyslotJSON, lo, hi uint64) (span, error) {
	a := s.Area
	off, offOK := canonical(a.Offset)
	size, sizeOK := canonical(a.Size)
	switch {
	case !id(k, maxKeyslots):
		return span{}, rejectf("keyslot id %q", k)
	case s.Type != "luks2":
		return span{}, rejectf("keyslots.%s.type %q, want luks2", k, s.Type)
	case s.KeySize != VolumeKeySize:
		return span{}, rejectf("keyslots.%s.key_size %d, want %d", k, s.KeySize, VolumeKeySize)
	case s.Priority != nil && (*s.Priority < 0 || *s.Priority > 2):
		return span{}, rejectf("keyslots.%s.priority %d, want 0..2", k, *s.Priority)
	case s.AF.Type != "luks1" || s.AF.Stripes != afStripes || s.AF.Hash != "sha256":
		return span{}, rejectf("keyslots.%s.af %s/%d/%s, want luks1/%d/sha256", k, s.AF.Type, s.AF.Stripes, s.AF.Hash, afStripes)
	case a.Type != "raw" || a.Encryption != Cipher || a.KeySize != VolumeKeySize:
		return span{}, rejectf("keyslots.%s.area %s/%q/%d, want raw/%s/%d", k, a.Type, a.Encryption, a.KeySize, Cipher, VolumeKeySize)
	case !offOK || !sizeOK || off%areaAlign != 0 || size%areaAlign != 0 || size < areaSize ||
		off < lo || off > hi || size > hi-off:
		return span{}, rejectf("keyslots.%s.area offset %q size %q: want %d-aligned, at least %d bytes, inside [%d, %d)",
			k, a.Offset, a.Size, areaAlign, areaSize, lo, hi)
	}
	if err := checkKDF(k, s.KDF); err != nil {
		return span{}, err
	}
	return span{id: k, off: off, end: off + size}, nil
}

func checkKDF(k string, f kdfJSON) error {
	if salt, err := base64.StdEncoding.Strict().DecodeString(f.Salt); err != nil || len(salt) != saltSize {
		return rejectf("keyslots.%s.kdf.salt %q: want %d bytes of base64", k, f.Salt, saltSize)
	}
	switch f.Type {
	case "pbkdf2":
		switch {
		case f.Time != nil || f.Memory != nil || f.CPUs != nil:
			return rejectf("keyslots.%s.kdf: pbkdf2 with argon2 members", k)
		case f.Hash == nil || *f.Hash != "sha256":
			return rejectf("keyslots.%s.kdf.hash %q, want sha256", k, deref(f.Hash))
		case f.Iterations == nil || *f.Iterations < minPBKDF2Iter || *f.Iterations > maxPBKDF2Iter:
			return rejectf("keyslots.%s.kdf.iterations %d, want %d..%d", k, deref(f.Iterations), minPBKDF2Iter, maxPBKDF2Iter)
		}
		return nil
	case "argon2id", "argon2i":
		return checkArgon2(k, f)
	}
	return rejectf("keyslots.%s.kdf.type %q, want pbkdf2, argon2id or argon2i", k, f.Type)
}

func checkArgon2(k string, f kdfJSON) error {
	if f.Hash != nil || f.Iterations != nil || f.Time == nil || f.Memory == nil || f.CPUs == nil {
		return rejectf("keyslots.%s.kdf: %s wants exactly time, memory, cpus and salt", k, f.Type)
	}
	t, mem, cpus := *f.Time, *f.Memory, *f.CPUs
	switch {
	case t < 1:
		return rejectf("keyslots.%s.kdf.time %d, want at least 1", k, t)
	case cpus < 1 || cpus > maxArgon2CPUs:
		return rejectf("keyslots.%s.kdf.cpus %d, want 1..%d", k, cpus, maxArgon2CPUs)
	case mem < minArgon2MemoryKiB || mem > MaxArgon2MemoryKiB:
		return rejectf("keyslots.%s.kdf.memory %d KiB, want %d..%d", k, mem, minArgon2MemoryKiB, MaxArgon2MemoryKiB)
	case t > maxArgon2Work/mem:
		return rejectf("keyslots.%s.kdf.time %d × memory %d KiB exceeds %d", k, t, mem, maxArgon2Work)
	}
	return nil
}

func deref[T any](p *T) any {
	if p == nil {
		return "absent"
	}
	return *p
}
