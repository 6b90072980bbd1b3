package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/cvminit/cvminit/agent/config"
	"github.com/cvminit/cvminit/agent/klog"
)

// runner executes the step table and owns the failure policy.
type runner struct {
	opts  Options
	clock Clock
	h     *klog.Handler
	log   *slog.Logger
	state *State
	start time.Time
	// cfg is the config once the config step finished; only the runner
	// goroutine touches it.
	cfg *config.Config
}

func (r *runner) run(ctx context.Context, steps []Step) error {
	r.start = r.clock.Now()
	r.state.started = r.start
	for _, st := range steps {
		if err := r.runStep(ctx, st); err != nil {
			return r.fail(st, err)
		}
		if r.cfg == nil && r.state.Config != nil {
			r.cfg = r.state.Config // the configured deadline and failure policy apply from now on
		}
	}
	return nil
}

// deadline is the overall deadline: the configured one once known.
func (r *runner) deadline() time.Time {
	if r.cfg != nil {
		return r.start.Add(r.cfg.Boot.Deadline.D())
	}
	return r.start.Add(r.opts.Deadline)
}

// stepError is a step's error with what the runner knows about it.
type stepError struct {
	step        string
	err         error
	deadlineHit bool
}

func (e *stepError) Error() string { return fmt.Sprintf("step %s: %v", e.step, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// runStep runs one step in its own goroutine under the overall deadline,
// turns a panic into ErrPanic, stops waiting for a step that overruns the
// deadline by more than the grace period, and prints the step line.
func (r *runner) runStep(ctx context.Context, st Step) error {
	ctx, cancel := context.WithDeadline(ctx, r.deadline())
	defer cancel()
	t0 := r.clock.Now()
	r.log.Debug("step start", "step", st.Name)
	done := make(chan error, 1)
	go func() { done <- callStep(ctx, st, r.state) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = r.waitGrace(ctx, done)
	}
	d := r.clock.Now().Sub(t0)
	r.state.Timings = append(r.state.Timings, Timing{Step: st.Name, Duration: d})
	if err == nil {
		r.h.Step(st.Name, klog.StepOK, d.Milliseconds())
		return nil
	}
	r.h.Step(st.Name, klog.StepFail, d.Milliseconds())
	return &stepError{step: st.Name, err: err, deadlineHit: ctx.Err() != nil}
}

// waitGrace gives a step that saw the deadline a moment to return its own
// error; after that the boot fails without it.
func (r *runner) waitGrace(ctx context.Context, done <-chan error) error {
	t := time.NewTimer(r.opts.Grace)
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil {
			err = fmt.Errorf("finished after the deadline: %w", ctx.Err())
		}
		return err
	case <-t.C:
		return fmt.Errorf("still running at the deadline: %w", ctx.Err())
	}
}

// callStep runs st, converting a panic into an error.
func callStep(ctx context.Context, st Step, s *State) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Debug("panic stack", "step", st.Name, "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrPanic, p)
		}
	}()
	return st.Run(ctx, s)
}

// flush drains the console, waiting at most flushTimeout.
func (r *runner) flush() {
	if err := flushBounded(r.h); err != nil {
		r.log.Debug("console flush", "err", err)
	}
}

// flushBounded calls h.Flush but gives up after flushTimeout: a console that
// never drains must not stop the failure policy.
func flushBounded(h *klog.Handler) error {
	done := make(chan error, 1)
	go func() { done <- h.Flush() }()
	t := time.NewTimer(flushTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errors.New("console did not drain in time")
	}
}

// deadlineHit reports whether err is a step error that hit the deadline.
func deadlineHit(err error) bool {
	var se *stepError
	return errors.As(err, &se) && se.deadlineHit
}

// background runs f in its own goroutine under ctx's deadline but not
// ended with ctx (detach), for work a later step takes (await).
func background[T any](ctx context.Context, f func(context.Context) T) <-chan T {
	ch := make(chan T, 1)
	bg, cancel := detach(ctx)
	go func() {
		defer cancel()
		ch <- f(bg)
	}()
	return ch
}

// await takes the result of background work from *ch, once (*ch is then
// nil); ok is false when *ch was nil or ctx ended first.
func await[T any](ctx context.Context, ch *<-chan T) (r T, ok bool) {
	if *ch == nil {
		return r, false
	}
	defer func() { *ch = nil }()
	select {
	case r = <-*ch:
		return r, true
	case <-ctx.Done():
		return r, false
	}
}

// detach returns a context that ctx's end does not cancel but that keeps
// its deadline, for background work that outlives a step.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	bg := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(bg, d)
	}
	return bg, func() {}
}
