package agent

import (
	"slices"
	"testing"
	"time"
)

// countCalls is how many recorded calls are exactly c.
func (f *fake) countCalls(c string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, x := range f.calls {
		if x == c {
			n++
		}
	}
	return n
}

// TestScout: the root disk is looked for while the broker exchange is
// under way (the fake broker answers only once the search happened). The
// disk step takes that result instead of searching again; when the
// background search fails, the disk step searches itself and the boot
// goes on.
func TestScout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		listFails int
		searches  int
	}{
		{"found", 0, 1},   // the disk step takes the scout's result
		{"nothing", 1, 2}, // scout, then the disk step
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.listFails = tt.listFails
			searched := awaitSearch(h)
			if err := h.run(); err != nil {
				t.Fatal(err)
			}
			if !*searched {
				t.Error("no disk search while the key was fetched")
			}
			if n := h.f.countCalls("list"); n != tt.searches {
				t.Errorf("disk searched %d times, want %d", n, tt.searches)
			}
			if !slices.Contains(h.f.hardwareCalls(), "switchroot /newroot /sbin/init") {
				t.Error("did not switch root")
			}
		})
	}
}

// awaitSearch makes the fake broker answer only once the disk was
// searched (or after 5 s); *searched says whether it was.
func awaitSearch(h *harness) *bool {
	searched := new(bool)
	h.f.keyHook = func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if *searched = h.f.called("list"); *searched {
				return
			}
		}
	}
	return searched
}
