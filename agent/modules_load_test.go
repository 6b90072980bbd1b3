package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedLoader records loads and, for paths in gate, blocks each until the
// gate channel is closed; it fails paths in fail.
type gatedLoader struct {
	mu      sync.Mutex
	events  []string // "start P", "end P"
	running int
	peak    int
	gate    map[string]chan struct{}
	fail    map[string]error
	started chan string // every start, if not nil
}

func (g *gatedLoader) Load(p string) error {
	g.mu.Lock()
	g.events = append(g.events, "start "+p)
	g.running++
	g.peak = max(g.peak, g.running)
	gate := g.gate[p]
	g.mu.Unlock()
	if g.started != nil {
		g.started <- p
	}
	if gate != nil {
		<-gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running--
	g.events = append(g.events, "end "+p)
	return g.fail[p]
}

// runEarly loads p as the modules step's own stage (every entry
// stageEarly) with a moduleLoader of workers and returns its outcome.
func runEarly(ctx context.Context, p modulePlan, workers int, load func(i int) error) error {
	l := newModuleLoader(p, make([]moduleStage, len(p.paths)), workers, 0)
	var err error
	l.load = load
	l.done = func(st moduleStage, e error) {
		if st == stageEarly {
			err = e
		}
	}
	l.run(ctx)
	return err
}

func (g *gatedLoader) log() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.events)
}

// TestRunModulesConcurrent: independent modules load side by side (a
// blocks until b has started, which one-at-a-time loading never allows),
// a dependent one only after its dependency ended, never more than the
// worker count at once.
func TestRunModulesConcurrent(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko", "/m/c.ko", "/m/d.ko"}
	deps := map[string][]string{"/m/a.ko": {}, "/m/b.ko": {}, "/m/c.ko": {"/m/a.ko"}, "/m/d.ko": {}}
	gateA := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{"/m/a.ko": gateA}, started: make(chan string, 8)}
	done := make(chan error, 1)
	go func() {
		done <- runEarly(context.Background(), planModules(paths, deps), 2, func(i int) error { return g.Load(paths[i]) })
	}()
	// b ends and the second worker moves on to d; c still waits for a.
	waitStarted(t, g.started, "/m/a.ko", "/m/b.ko", "/m/d.ko")
	close(gateA)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ev := g.log()
	if slices.Index(ev, "start /m/c.ko") < slices.Index(ev, "end /m/a.ko") {
		t.Errorf("c started before a ended: %v", ev)
	}
}

// TestRunModulesWorkerLimit: with every load blocked, exactly the worker
// count of loads is under way.
func TestRunModulesWorkerLimit(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko", "/m/c.ko", "/m/d.ko"}
	deps := map[string][]string{"/m/a.ko": {}, "/m/b.ko": {}, "/m/c.ko": {}, "/m/d.ko": {}}
	gate := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{}, started: make(chan string, 8)}
	for _, p := range paths {
		g.gate[p] = gate
	}
	done := make(chan error, 1)
	go func() {
		done <- runEarly(context.Background(), planModules(paths, deps), 2, func(i int) error { return g.Load(paths[i]) })
	}()
	waitStarted(t, g.started, "/m/a.ko", "/m/b.ko") // the earliest ready first
	select {
	case p := <-g.started:
		t.Fatalf("%s started while two loads were under way", p)
	case <-time.After(100 * time.Millisecond):
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g.peak != 2 || len(g.log()) != 8 {
		t.Errorf("peak %d, events %v; want peak 2 and all four loaded", g.peak, g.log())
	}
}

// waitStarted waits for the next len(want) loads to start, in any order,
// and fails unless they are want.
func waitStarted(t *testing.T, ch chan string, want ...string) {
	t.Helper()
	var got []string
	for range want {
		select {
		case p := <-ch:
			got = append(got, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("started %v, want %v next", got, want)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("started %v, want %v next", got, want)
	}
}

func TestRunModulesOneWorkerKeepsOrder(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko", "/m/c.ko"}
	g := &gatedLoader{}
	if err := runEarly(context.Background(), planModules(paths, nil), 1, func(i int) error { return g.Load(paths[i]) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"start /m/a.ko", "end /m/a.ko", "start /m/b.ko", "end /m/b.ko", "start /m/c.ko", "end /m/c.ko"}
	if ev := g.log(); !slices.Equal(ev, want) {
		t.Errorf("events %v, want %v", ev, want)
	}
}

// TestRunModulesFailure: a failed module stops everything not yet started
// (its dependents first of all), the load under way finishes, and the
// error names the module.
func TestRunModulesFailure(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko", "/m/c.ko", "/m/d.ko"}
	deps := map[string][]string{"/m/a.ko": {}, "/m/b.ko": {}, "/m/c.ko": {"/m/a.ko"}, "/m/d.ko": {}}
	enoexec := errors.New("ENOEXEC")
	gateB := make(chan struct{})
	g := &gatedLoader{gate: map[string]chan struct{}{"/m/b.ko": gateB}, fail: map[string]error{"/m/a.ko": enoexec},
		started: make(chan string, 8)}
	done := make(chan error, 1)
	go func() {
		done <- runEarly(context.Background(), planModules(paths, deps), 2, func(i int) error { return g.Load(paths[i]) })
	}()
	waitStarted(t, g.started, "/m/a.ko", "/m/b.ko")
	select {
	case err := <-done:
		t.Fatalf("returned %v while b was still loading", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gateB)
	err := <-done
	if !errors.Is(err, enoexec) || !strings.Contains(err.Error(), "loading module /m/a.ko") {
		t.Errorf("err = %v, want a's ENOEXEC", err)
	}
	ev := g.log()
	if slices.Contains(ev, "start /m/c.ko") || slices.Contains(ev, "start /m/d.ko") {
		t.Errorf("modules started after the failure: %v", ev)
	}
	if !slices.Contains(ev, "end /m/b.ko") {
		t.Errorf("b did not finish: %v", ev)
	}
}

func TestRunModulesContextEnded(t *testing.T) {
	paths := []string{"/m/a.ko", "/m/b.ko"}
	ctx, cancel := context.WithCancel(context.Background())
	err := runEarly(ctx, planModules(paths, nil), 2, func(i int) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "before loading /m/b.ko") {
		t.Errorf("err = %v, want canceled before b", err)
	}
}
