package snp

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// hostile is a fake emulator: it reads one request and answers with whatever
// the function returns.
type hostile func(req Request) []byte

func dialFake(t *testing.T, h hostile) func(context.Context) (io.ReadWriteCloser, error) {
	return dialPipe(t, h, true)
}

// dialStall answers with prefix (possibly empty) and then stays silent.
func dialStall(t *testing.T, prefix []byte) func(context.Context) (io.ReadWriteCloser, error) {
	return dialPipe(t, func(Request) []byte { return prefix }, false)
}

func dialPipe(t *testing.T, h hostile, hangUp bool) func(context.Context) (io.ReadWriteCloser, error) {
	return func(context.Context) (io.ReadWriteCloser, error) {
		guest, host := net.Pipe()
		go serveFake(host, h, hangUp)
		t.Cleanup(func() { host.Close() })
		return guest, nil
	}
}

func serveFake(conn net.Conn, h hostile, hangUp bool) {
	buf := make([]byte, RequestSize)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return
	}
	req, err := DecodeRequest(buf)
	if err != nil {
		return
	}
	_, _ = conn.Write(h(req))
	if hangUp {
		conn.Close()
	}
}

func okReply(policy uint64, vmpl uint32, flip bool, table []byte) hostile {
	return func(req Request) []byte {
		rd := req.ReportData
		if flip {
			rd[0] ^= 0xFF
		}
		b, _ := EncodeResponse(Response{Report: synthReport(rd, policy, vmpl), CertTable: table})
		return b
	}
}

func TestEmulatedGetReport(t *testing.T) {
	rd := data(3)
	tests := []struct {
		name string
		h    hostile
		want error
	}{
		{"ok", okReply(policyDefault, 0, false, []byte{1, 2, 3}), nil},
		{"wrong report data", okReply(policyDefault, 0, true, nil), ErrReportDataMismatch},
		{"other vmpl", okReply(policyDefault, 1, false, nil), ErrVMPLMismatch},
		{"debug policy", okReply(policyDebug, 0, false, nil), ErrDebugPolicy},
		{"status error", func(Request) []byte {
			b, _ := EncodeResponse(Response{Status: StatusInternalErr, Message: "\x1b[2Jboom"})
			return b
		}, ErrEmulatorStatus},
		{"oversize length", func(Request) []byte { return header("SNPR", 1, 0, 0x4A0, 0x10000000) }, ErrWireFormat},
		{"garbage", func(Request) []byte { return []byte("HTTP/1.1 400 Bad Request\r\n\r\n") }, ErrWireFormat},
		{"short report", func(Request) []byte { return append(header("SNPR", 1, 0, 0x4A0, 0), 1, 2) }, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		e := &Emulated{Dial: dialFake(t, tc.h)}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ev, err := e.GetReport(ctx, rd)
		cancel()
		if tc.want == nil {
			if err != nil || len(ev.Report) != ReportSize || len(ev.CertTable) != 3 {
				t.Errorf("%s: GetReport = %v, %v", tc.name, ev, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || ev != nil {
			t.Errorf("%s: GetReport = %v, %v; want error %v", tc.name, ev, err, tc.want)
		}
	}
}

// noDeadline hides SetDeadline so only the close-on-timeout path can stop a stall.
type noDeadline struct{ io.ReadWriteCloser }

func TestEmulatedStallTimesOut(t *testing.T) {
	hide := func(d func(context.Context) (io.ReadWriteCloser, error)) func(context.Context) (io.ReadWriteCloser, error) {
		return func(ctx context.Context) (io.ReadWriteCloser, error) {
			c, err := d(ctx)
			return noDeadline{c}, err
		}
	}
	dialers := map[string]func(context.Context) (io.ReadWriteCloser, error){
		"with deadline":    dialStall(t, nil),
		"without deadline": hide(dialStall(t, nil)),
		"stall mid-body":   dialStall(t, append(header("SNPR", 1, 0, 0x4A0, 0), make([]byte, 100)...)),
	}
	for name, dial := range dialers {
		const limit = 200 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		start := time.Now()
		_, err := (&Emulated{Dial: dial}).GetReport(ctx, data(1))
		cancel()
		if elapsed := time.Since(start); elapsed > limit+time.Second {
			t.Errorf("%s: returned after %v, deadline was %v", name, elapsed, limit)
		}
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("%s: err = %v, want ErrTimeout", name, err)
		}
	}
}

func TestEmulatedDialError(t *testing.T) {
	boom := errors.New("no port")
	e := &Emulated{Dial: func(context.Context) (io.ReadWriteCloser, error) { return nil, boom }}
	if _, err := e.GetReport(context.Background(), data(0)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

func TestEmulatedSendsRequest(t *testing.T) {
	rd := data(9)
	var got Request
	e := &Emulated{VMPL: 2, Dial: dialFake(t, func(req Request) []byte {
		got = req
		return okReply(policyDefault, 2, false, make([]byte, 64))(req)
	})}
	ev, err := e.GetReport(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != TypeExtendedReport || got.VMPL != 2 || got.ReportData != rd {
		t.Fatalf("emulator saw %+v", got)
	}
	if ev.CertTable != nil {
		t.Fatalf("all-zero certificate table not normalized to nil")
	}
}

// TestEmulatedDropsStaleResponse: a late answer to an earlier, abandoned
// request waiting on the port is not taken for the answer to this one.
func TestEmulatedDropsStaleResponse(t *testing.T) {
	rd := data(5)
	stale, _ := EncodeResponse(Response{Report: synthReport(data(6), policyDefault, 0)})
	dial := func(context.Context) (io.ReadWriteCloser, error) {
		guest, host := net.Pipe()
		go func() {
			_, _ = host.Write(stale) // blocks until the client drains it
			serveFake(host, okReply(policyDefault, 0, false, nil), true)
		}()
		t.Cleanup(func() { host.Close() })
		return guest, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e := &Emulated{Dial: dial}
	e.abandoned.Store(true) // an earlier exchange gave up
	ev, err := e.GetReport(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	if CheckOwn(ev.Report, rd) != nil {
		t.Fatal("got the stale report")
	}
}

// deadlineConn records the deadlines set on a stream.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return c.Conn.SetDeadline(t)
}

// TestEmulatedDrainsAfterGivingUp: an exchange that finds nothing
// abandoned writes its request at once (one deadline set: the exchange's
// own); one that times out marks the provider, and the next exchange drains
// the port first (a drain deadline, then its own).
func TestEmulatedDrainsAfterGivingUp(t *testing.T) {
	var conns []*deadlineConn
	answer := true
	dial := func(context.Context) (io.ReadWriteCloser, error) {
		guest, host := net.Pipe()
		if answer {
			go serveFake(host, okReply(policyDefault, 0, false, nil), true)
		}
		t.Cleanup(func() { host.Close() })
		c := &deadlineConn{Conn: guest}
		conns = append(conns, c)
		return c, nil
	}
	e := &Emulated{Dial: dial}
	get := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := e.GetReport(ctx, data(7))
		return err
	}
	if err := get(5 * time.Second); err != nil || len(conns[0].set) != 1 {
		t.Fatalf("first exchange: err %v, %d deadlines set, want nil and 1", err, len(conns[0].set))
	}
	answer = false
	if err := get(50 * time.Millisecond); !errors.Is(err, ErrTimeout) || !e.abandoned.Load() {
		t.Fatalf("unanswered exchange: err %v, abandoned %v; want ErrTimeout and true", err, e.abandoned.Load())
	}
	answer = true
	if err := get(5 * time.Second); err != nil || len(conns[2].set) != 2 {
		t.Fatalf("exchange after one gave up: err %v, %d deadlines set, want nil and 2 (drain first)", err, len(conns[2].set))
	}
}

func TestEmulatedFloodedPort(t *testing.T) {
	dial := func(context.Context) (io.ReadWriteCloser, error) {
		guest, host := net.Pipe()
		go func() {
			junk := make([]byte, 4096)
			for {
				if _, err := host.Write(junk); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { host.Close() })
		return guest, nil
	}
	for _, abandoned := range []bool{false, true} { // junk read as the answer; junk drained without end
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e := &Emulated{Dial: dial}
		e.abandoned.Store(abandoned)
		if _, err := e.GetReport(ctx, data(1)); !errors.Is(err, ErrWireFormat) && !errors.Is(err, ErrTimeout) {
			t.Errorf("abandoned %v: err = %v, want ErrWireFormat or ErrTimeout", abandoned, err)
		}
		cancel()
	}
}
