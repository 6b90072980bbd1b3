package seal

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// applyOwners sets the recorded tar ownership on the ext4 image with one
// debugfs run (set_inode_field on each path; symlinks themselves, not their
// targets). It is how a tar archive keeps its ownership without root. debugfs
// exits 0 even when a command fails, so any message on its stderr but its
// version banner is a failure.
func applyOwners(ctx context.Context, debugfs, img string, owners map[string]owner) error {
	names := make([]string, 0, len(owners))
	for n := range owners {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		o := owners[n]
		q := `"` + strings.ReplaceAll(n, `"`, `""`) + `"` // debugfs quoting: "" is a quote
		fmt.Fprintf(&b, "sif %s uid %d\nsif %s gid %d\n", q, o.uid, q, o.gid)
	}
	cmds := filepath.Join(filepath.Dir(img), "owners.debugfs")
	if err := os.WriteFile(cmds, []byte(b.String()), 0o600); err != nil {
		return err
	}
	defer os.Remove(cmds)
	stderr := &tailBuffer{max: maxStderr}
	if _, err := runWith(ctx, "", debugfs, func(string) {}, stderr, "-w", "-f", cmds, img); err != nil {
		return fmt.Errorf("applying the tar archive's ownership: %w", err)
	}
	for _, line := range strings.Split(string(stderr.b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "debugfs ") {
			return fmt.Errorf("applying the tar archive's ownership: debugfs: %s", line)
		}
	}
	return nil
}
