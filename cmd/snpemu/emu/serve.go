package emu

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/cvminit/cvminit/agent/snp"
)

// Serve accepts connections on ln until ctx ends and answers requests on each
// (QEMU reconnecting shows up as a new connection). It returns nil when ctx
// ends and the accept error otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accepting a connection: %w", err)
		}
		s.log.Info("guest connected")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			if err := s.ServeConn(ctx, conn); err != nil {
				s.log.Warn("connection ended", "err", err)
			}
		}()
	}
}

// ServeConn answers requests read from rw until it reaches EOF or ctx ends
// (then rw is closed if it is an io.Closer). Bytes that do not start a request
// are skipped until the next request magic, as on any byte stream a guest may
// have left half-written.
func (s *Server) ServeConn(ctx context.Context, rw io.ReadWriter) error {
	if c, ok := rw.(io.Closer); ok {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
	}
	br := bufio.NewReader(rw)
	for {
		req, err := s.readRequest(br)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || ctx.Err() != nil {
			return nil
		}
		var resp snp.Response
		switch {
		case errors.Is(err, snp.ErrWireVersion):
			resp = failure(snp.StatusBadVersion, err)
		case err != nil:
			return fmt.Errorf("reading a request: %w", err)
		default:
			resp = s.answer(req)
		}
		if err := writeResponse(rw, resp); err != nil {
			return err
		}
	}
}

// readRequest skips to the next "SNPQ" and decodes the frame starting there.
func (s *Server) readRequest(br *bufio.Reader) (snp.Request, error) {
	skipped := 0
	for {
		head, err := br.Peek(len(snp.RequestMagic))
		if err != nil {
			return snp.Request{}, err
		}
		if string(head) == snp.RequestMagic {
			break
		}
		_, _ = br.Discard(1)
		skipped++
	}
	if skipped > 0 {
		s.log.Warn("skipped bytes before a request", "bytes", skipped)
	}
	buf := make([]byte, snp.RequestSize)
	if _, err := io.ReadFull(br, buf); err != nil {
		return snp.Request{}, err
	}
	return snp.DecodeRequest(buf)
}

// answer turns one decoded request into a response.
func (s *Server) answer(req snp.Request) snp.Response {
	if req.Type != snp.TypeExtendedReport {
		return failure(snp.StatusBadType, fmt.Errorf("request type %d", req.Type))
	}
	report, table, err := s.Report(req.ReportData, req.VMPL)
	switch {
	case errors.Is(err, ErrBadVMPL):
		return failure(snp.StatusBadVMPL, err)
	case err != nil:
		s.log.Error("report failed", "err", err)
		return failure(snp.StatusInternalErr, err)
	}
	s.log.Info("report", "vmpl", req.VMPL, "report_data", hex.EncodeToString(req.ReportData[:8])+"…")
	return snp.Response{Report: report, CertTable: table}
}

func failure(code uint16, err error) snp.Response {
	msg := err.Error()
	if len(msg) > snp.MaxMessage {
		msg = msg[:snp.MaxMessage]
	}
	return snp.Response{Status: code, Message: msg}
}

func writeResponse(w io.Writer, resp snp.Response) error {
	b, err := snp.EncodeResponse(resp)
	if err != nil {
		return fmt.Errorf("encoding a response: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("writing a response: %w", err)
	}
	return nil
}
