package agent

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
)

// Files the kernel reports memory sizes in ("Key:   N kB" lines).
const (
	meminfoPath    = "/proc/meminfo"
	selfStatusPath = "/proc/self/status"
)

// stepMemory fails the boot early, with one clear status line, when the
// VM has less memory than boot.min_memory_mib. With too little memory a
// later step (module loading, measured at MemTotal 54 MiB) runs out of it,
// and the kernel's out-of-memory panic reboots the VM with no status line,
// again and again under panic=-1.
func stepMemory(_ context.Context, s *State) error {
	b, err := s.sys.Files.ReadFile(meminfoPath)
	if err != nil {
		return fmt.Errorf("MemTotal unknown: reading %s: %w", meminfoPath, err)
	}
	total, err := kernelKiB(b, "MemTotal")
	if err != nil {
		return fmt.Errorf("MemTotal unknown: %s: %w", meminfoPath, err)
	}
	minMiB := s.Config.Boot.MinMemoryMiB
	if total < uint64(minMiB)*1024 {
		return fmt.Errorf("MemTotal %d kB (%d MiB) is below the minimum of %d MiB (boot.min_memory_mib)",
			total, total/1024, minMiB)
	}
	s.log.Info("memory", "memtotal_kib", total, "min_memory_mib", minMiB)
	return nil
}

// kernelKiB returns the value of the line "key: N kB" of a /proc file such
// as /proc/meminfo or /proc/<pid>/status.
func kernelKiB(b []byte, key string) (uint64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte(key+":"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("%s line %q is not \"N kB\"", key, bytes.TrimSpace(line))
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s line", key)
}

// logPeakMemory logs cvminit's peak resident set size (VmHWM) in one info
// line; an unreadable value is only a debug line.
func logPeakMemory(s *State) {
	b, err := s.sys.Files.ReadFile(selfStatusPath)
	if err == nil {
		var hwm uint64
		if hwm, err = kernelKiB(b, "VmHWM"); err == nil {
			s.log.Info("peak memory", "vmhwm_kib", hwm)
			return
		}
	}
	s.log.Debug("peak memory unknown", "err", err)
}
