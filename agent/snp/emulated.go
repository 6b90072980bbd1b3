package snp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds one emulated exchange when ctx carries no deadline.
const DefaultTimeout = 30 * time.Second

// ErrTimeout is returned when the emulator does not answer before the deadline.
var ErrTimeout = errors.New("timed out waiting for the SNP emulator")

// Emulated asks cmd/snpemu for reports over a byte stream (a virtio-serial
// port in the guest, a pipe or socket in tests). The host is not trusted: every
// read is bounded, the exchange ends at the ctx deadline, and the answer must
// echo REPORT_DATA and VMPL.
type Emulated struct {
	// Dial opens the stream for one exchange; it is closed afterwards.
	Dial func(ctx context.Context) (io.ReadWriteCloser, error)
	// VMPL is the VMPL the report is requested at (0 for an ordinary guest).
	VMPL uint32

	// abandoned is set once an exchange gave up before its answer came:
	// that answer may still arrive, so later exchanges drain the port first.
	abandoned atomic.Bool
}

func (e *Emulated) String() string { return NameEmulated }

// deadliner is implemented by os.File (pollable devices), net.Conn and pipes.
type deadliner interface{ SetDeadline(t time.Time) error }

// GetReport requests an extended report binding reportData.
func (e *Emulated) GetReport(ctx context.Context, reportData [64]byte) (*Evidence, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	conn, err := e.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the SNP emulator port: %w", err)
	}
	defer conn.Close()
	resp, err := exchange(ctx, conn, Request{Type: TypeExtendedReport, VMPL: e.VMPL, ReportData: reportData},
		e.abandoned.Load())
	if ctx.Err() != nil || errors.Is(err, ErrTimeout) {
		e.abandoned.Store(true)
	}
	if err != nil {
		return nil, err
	}
	if err := resp.Err(); err != nil {
		return nil, err
	}
	ev := &Evidence{Report: resp.Report, CertTable: normalizeCertTable(resp.CertTable)}
	if err := checkEvidence(ev, reportData, e.VMPL); err != nil {
		return nil, fmt.Errorf("checking the emulator's report: %w", err)
	}
	return ev, nil
}

type exchangeResult struct {
	resp Response
	err  error
}

// exchange writes req and reads one response, giving up at the ctx deadline,
// after draining the stream first if asked to (see drain). A stream with
// deadlines gets them set; any stream is closed when ctx ends so a blocked
// read returns.
func exchange(ctx context.Context, conn io.ReadWriteCloser, req Request, drainFirst bool) (Response, error) {
	done := make(chan exchangeResult, 1)
	go func() {
		d, ok := conn.(deadliner)
		if ok && drainFirst {
			if err := drain(conn, d); err != nil {
				done <- exchangeResult{err: err}
				return
			}
		}
		if ok {
			dl, _ := ctx.Deadline() // zero (none) clears the drain deadline
			_ = d.SetDeadline(dl)   // best effort: the select below still bounds the wait
		}
		done <- roundTrip(conn, req)
	}()
	select {
	case r := <-done:
		if r.err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(r.err, os.ErrDeadlineExceeded)) {
			return Response{}, fmt.Errorf("%w: %w", ErrTimeout, r.err)
		}
		return r.resp, r.err
	case <-ctx.Done():
		_ = conn.Close() // unblocks the reader; the deferred Close in the caller is then a no-op error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Response{}, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		return Response{}, fmt.Errorf("waiting for the SNP emulator: %w", ctx.Err())
	}
}

// Draining: the port is a byte stream that outlives one exchange, so a
// response that arrived after an earlier exchange gave up would be read as the
// answer to the next request. After an exchange gave up, whatever is waiting
// is read and dropped before the next request is written (during
// drainWindow, up to maxDrain bytes). Without one nothing stale can be
// waiting but what the host sends unasked, which no answer can pass for: an
// answer must echo the request's REPORT_DATA (checkEvidence), so the drain
// saves an exchange, not the guest.
const (
	drainWindow = 10 * time.Millisecond
	maxDrain    = 64 << 10
)

func drain(r io.Reader, d deadliner) error {
	if err := d.SetDeadline(time.Now().Add(drainWindow)); err != nil {
		return nil // not pollable: nothing can be drained without blocking
	}
	buf := make([]byte, 4096)
	for total := 0; total <= maxDrain; {
		n, err := r.Read(buf)
		total += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("draining the port: %w", err)
		}
	}
	return fmt.Errorf("%w: more than %d unrequested bytes waiting on the port", ErrWireFormat, maxDrain)
}

func roundTrip(rw io.ReadWriter, req Request) exchangeResult {
	if _, err := rw.Write(EncodeRequest(req)); err != nil {
		return exchangeResult{err: fmt.Errorf("writing request: %w", err)}
	}
	resp, err := ReadResponse(rw)
	return exchangeResult{resp: resp, err: err}
}
