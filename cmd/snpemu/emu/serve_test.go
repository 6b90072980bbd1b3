package emu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/cvminit/cvminit/agent/snp"
)

// pipeDialer connects an agent/snp Emulated client to s.ServeConn through
// net.Pipe, one pipe per exchange (the client closes it afterwards).
func pipeDialer(t *testing.T, s *Server) func(context.Context) (io.ReadWriteCloser, error) {
	return func(ctx context.Context) (io.ReadWriteCloser, error) {
		guest, host := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.ServeConn(context.Background(), host) }()
		t.Cleanup(func() { // the client hangs up, so ServeConn must end by itself
			defer host.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("ServeConn: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("ServeConn still running after the client hung up")
			}
		})
		return guest, nil
	}
}

func TestAgentClientAgainstEmulator(t *testing.T) {
	st := newState(t, "Milan")
	m, rd := measurement(4), reportData(4)
	s := newServer(t, st, Config{Measurement: m})
	client := &snp.Emulated{Dial: pipeDialer(t, s)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev, err := client.GetReport(ctx, rd)
	if err != nil {
		t.Fatal(err)
	}
	a := attestation(t, ev.Report, ev.CertTable)
	if !bytes.Equal(a.GetReport().GetReportData(), rd[:]) {
		t.Fatal("REPORT_DATA not echoed")
	}
	if err := verifyWith(st, a); err != nil {
		t.Fatal(err)
	}
	if err := strictValidate(a, st, m, rd); err != nil {
		t.Fatal(err)
	}
}

// TestAgentClientRefusesMisbehaviour: the guest's own checks catch the
// misbehaviours it can see.
func TestAgentClientRefusesMisbehaviour(t *testing.T) {
	st := newState(t, "Milan")
	vmpl1 := uint32(1)
	for want, cfg := range map[error]Config{
		snp.ErrReportDataMismatch: {WrongReportData: true},
		snp.ErrDebugPolicy:        {Debug: true},
		snp.ErrVMPLMismatch:       {ForceVMPL: &vmpl1},
	} {
		client := &snp.Emulated{Dial: pipeDialer(t, newServer(t, st, cfg))}
		if _, err := client.GetReport(context.Background(), reportData(1)); !errors.Is(err, want) {
			t.Errorf("%+v: err = %v, want %v", cfg, err, want)
		}
	}
}

// TestOneStreamManyRequests speaks the raw wire format on one connection:
// good requests, a bad type, a bad VMPL, a future version and garbage.
func TestOneStreamManyRequests(t *testing.T) {
	s := newServer(t, newState(t, "Milan"), Config{})
	guest, host := net.Pipe()
	defer guest.Close()
	go s.ServeConn(context.Background(), host)
	future := snp.EncodeRequest(snp.Request{Type: 1})
	future[4] = 2
	steps := []struct {
		send   []byte
		status uint16
	}{
		{snp.EncodeRequest(snp.Request{Type: 1, ReportData: reportData(1)}), snp.StatusOK},
		{snp.EncodeRequest(snp.Request{Type: 7}), snp.StatusBadType},
		{snp.EncodeRequest(snp.Request{Type: 1, VMPL: 9}), snp.StatusBadVMPL},
		{future, snp.StatusBadVersion},
		{append([]byte("\x00\x00SNPjunk\nSN"), snp.EncodeRequest(snp.Request{Type: 1, ReportData: reportData(2)})...), snp.StatusOK},
		{snp.EncodeRequest(snp.Request{Type: 1, VMPL: 3, ReportData: reportData(3)}), snp.StatusOK},
	}
	_ = guest.SetDeadline(time.Now().Add(10 * time.Second))
	for i, step := range steps {
		if _, err := guest.Write(step.send); err != nil {
			t.Fatalf("step %d: write: %v", i, err)
		}
		resp, err := snp.ReadResponse(guest)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if resp.Status != step.status {
			t.Errorf("step %d: status %d (%q), want %d", i, resp.Status, resp.Message, step.status)
		}
		if resp.Status == snp.StatusOK && len(resp.Report) != snp.ReportSize {
			t.Errorf("step %d: %d-byte report", i, len(resp.Report))
		}
	}
}

func TestServeUnixSocketReconnect(t *testing.T) {
	s := newServer(t, newState(t, "Milan"), Config{})
	sock := filepath.Join(t.TempDir(), "snp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	for i := range 2 { // QEMU reconnecting = a second connection
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		rd := reportData(byte(i))
		if _, err := conn.Write(snp.EncodeRequest(snp.Request{Type: 1, ReportData: rd})); err != nil {
			t.Fatal(err)
		}
		resp, err := snp.ReadResponse(conn)
		if err != nil || resp.Err() != nil || snp.CheckOwn(resp.Report, rd) != nil {
			t.Fatalf("connection %d: %v / %v", i, err, resp.Err())
		}
		conn.Close()
	}
	idle, err := net.Dial("unix", sock) // an open connection must not block shutdown
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
