package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// loadResult is the outcome of one load.
type loadResult struct {
	i   int
	err error
}

// moduleLoader loads a plan's modules, each once the modules it waits for
// are loaded, and sets a latch per stage once every module of the stage is
// loaded. At most workers load at a time, at most bgWorkers of them for a
// stage after stageEarly; the ready module of the earliest stage goes
// first, then list order. So the background stages use whatever CPU the
// early modules' dependency chains leave idle, and the early modules never
// wait for more than the background's share. The first failure, or the
// end of ctx, stops new loads; once no load is under way, every stage not
// loaded reports the failures.
type moduleLoader struct {
	p       modulePlan
	stage   []moduleStage
	load    func(i int) error
	done    func(st moduleStage, err error) // a stage's outcome, once
	workers int
	bg      int // bgWorkers

	pending      []int   // unfinished waits per entry
	next         [][]int // entries waiting for each entry
	ready        []int   // by stage, then list order
	left         [numStages]int
	started      []bool
	running, bgN int
	failed       []loadResult
}

// newModuleLoader prepares l for p, whose entries belong to stage.
func newModuleLoader(p modulePlan, stage []moduleStage, workers, bgWorkers int) *moduleLoader {
	l := &moduleLoader{p: p, stage: stage, workers: workers, bg: bgWorkers,
		pending: make([]int, len(p.paths)), next: make([][]int, len(p.paths)), started: make([]bool, len(p.paths))}
	for i, ws := range p.waits {
		l.pending[i] = len(ws)
		for _, j := range ws {
			l.next[j] = append(l.next[j], i)
		}
		if len(ws) == 0 {
			l.ready = append(l.ready, i)
		}
		l.left[stage[i]]++
	}
	slices.SortStableFunc(l.ready, l.before)
	return l
}

// before orders ready entries: earlier stage first, then list order.
func (l *moduleLoader) before(a, b int) int {
	if l.stage[a] != l.stage[b] {
		return int(l.stage[a]) - int(l.stage[b])
	}
	return a - b
}

// run loads until nothing more can start and no load is under way, then
// reports every stage not yet reported.
func (l *moduleLoader) run(ctx context.Context) {
	for st := range numStages {
		if l.left[st] == 0 {
			l.done(st, nil)
		}
	}
	results := make(chan loadResult)
	for {
		l.start(ctx, results)
		if l.running == 0 {
			break
		}
		l.finish(<-results)
	}
	err := l.outcome(ctx)
	for st := range numStages {
		if l.left[st] > 0 {
			l.done(st, err)
		}
	}
}

// start starts the ready entries the worker limits allow.
func (l *moduleLoader) start(ctx context.Context, results chan<- loadResult) {
	for k := 0; k < len(l.ready) && l.running < l.workers && len(l.failed) == 0 && ctx.Err() == nil; {
		i := l.ready[k]
		bg := l.stage[i] != stageEarly
		if bg && l.bgN >= l.bg {
			k++
			continue
		}
		l.ready = slices.Delete(l.ready, k, k+1)
		l.started[i] = true
		l.running++
		if bg {
			l.bgN++
		}
		go func() { results <- loadResult{i, l.load(i)} }()
	}
}

// finish accounts for one ended load.
func (l *moduleLoader) finish(r loadResult) {
	l.running--
	st := l.stage[r.i]
	if st != stageEarly {
		l.bgN--
	}
	if r.err != nil {
		l.failed = append(l.failed, r)
		return
	}
	if l.left[st]--; l.left[st] == 0 {
		l.done(st, nil)
	}
	for _, j := range l.next[r.i] {
		if l.pending[j]--; l.pending[j] == 0 {
			k, _ := slices.BinarySearchFunc(l.ready, j, l.before)
			l.ready = slices.Insert(l.ready, k, j)
		}
	}
}

// outcome is the error of the stages left: the failed loads in list
// order, else the end of ctx before the first entry not started.
func (l *moduleLoader) outcome(ctx context.Context) error {
	if len(l.failed) > 0 {
		slices.SortFunc(l.failed, func(a, b loadResult) int { return a.i - b.i })
		errs := make([]error, len(l.failed))
		for k, f := range l.failed {
			errs[k] = fmt.Errorf("loading module %s: %w", l.p.paths[f.i], f.err)
		}
		return errors.Join(errs...)
	}
	if i := slices.Index(l.started, false); i >= 0 {
		err := ctx.Err()
		if err == nil { // unreachable: every wait is on an earlier entry
			err = errors.New("dependency wait never ended")
		}
		return fmt.Errorf("before loading %s: %w", l.p.paths[i], err)
	}
	return nil
}
