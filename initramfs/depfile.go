package initramfs

import (
	"path"
	"slices"
	"strings"
)

// DepFileName is the name of the dependency list next to the modules, in
// /lib/modules/<release>: the guest reads it to load modules whose
// dependencies are loaded side by side instead of one after the other.
const DepFileName = "modules.dep"

// DepFile returns modules.dep for c.Modules in depmod's format (kmod's
// modules.dep(5)): one line per module in load order, its path relative
// to /lib/modules/<release>, a colon, then every module it needs, directly
// or not, the one to load last first (as depmod lists them), e.g.
//
//	kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
//
// Unlike depmod's, the list also holds the providers of soft
// pre-dependencies (Module.SoftPre), which modprobe would load first too:
// the guest loads a module once everything listed is loaded. Built-in
// dependencies are not listed. An empty closure has no file.
func (c Closure) DepFile() (File, bool) {
	if len(c.Modules) == 0 {
		return File{}, false
	}
	dir := path.Join("/lib/modules", c.Release)
	pos := map[string]int{}
	for i, m := range c.Modules {
		pos[m.Name] = i
	}
	var b strings.Builder
	for i, m := range c.Modules {
		b.WriteString(strings.TrimPrefix(m.Path, dir+"/") + ":")
		deps := c.needs(i, pos)
		for _, d := range slices.Backward(deps) {
			b.WriteString(" " + strings.TrimPrefix(c.Modules[d].Path, dir+"/"))
		}
		b.WriteByte('\n')
	}
	return File{Path: path.Join(dir, DepFileName), Data: []byte(b.String()), Mode: 0o644}, true
}

// needs returns the positions in c.Modules of everything module i depends
// on, directly or not, in load order. pos maps names to positions; names
// not in it (built in) are skipped.
func (c Closure) needs(i int, pos map[string]int) []int {
	seen := map[int]bool{}
	var walk func(j int)
	walk = func(j int) {
		for _, d := range slices.Concat(c.Modules[j].Depends, c.Modules[j].SoftPre) {
			if k, ok := pos[d]; ok && !seen[k] {
				seen[k] = true
				walk(k)
			}
		}
	}
	walk(i)
	out := make([]int, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
