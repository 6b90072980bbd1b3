//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"time"
)

// tailPoll is how often the console log is checked for new output.
const tailPoll = 50 * time.Millisecond

// guestPrefix starts every streamed console line.
const guestPrefix = "  | "

// tail copies what is appended to the file at path to w, line by line
// with guestPrefix, until the returned function is called; that function
// copies the rest and returns once everything was written.
func tail(path string, w io.Writer) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		p := &prefixer{w: w}
		var f *os.File
		defer func() {
			if f != nil {
				_, _ = io.Copy(p, f)
				f.Close()
			}
			p.flush()
		}()
		for {
			if f == nil {
				f, _ = os.Open(path)
			}
			if f != nil {
				_, _ = io.Copy(p, f)
			}
			select {
			case <-stop:
				if f == nil {
					f, _ = os.Open(path)
				}
				return
			case <-time.After(tailPoll):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// prefixer writes complete lines to w, each after guestPrefix, as
// printable (firmware output clears the screen with escape sequences).
type prefixer struct {
	w    io.Writer
	part []byte
}

func (p *prefixer) Write(b []byte) (int, error) {
	p.part = append(p.part, b...)
	for {
		i := bytes.IndexByte(p.part, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := io.WriteString(p.w, guestPrefix+printable(p.part[:i])+"\n"); err != nil {
			return len(b), err
		}
		p.part = p.part[i+1:]
	}
}

// flush writes a last, unterminated line.
func (p *prefixer) flush() {
	if len(p.part) > 0 {
		_, _ = io.WriteString(p.w, guestPrefix+printable(p.part)+"\n")
		p.part = nil
	}
}

// printable drops terminal escape sequences (ESC [ ... final byte, or ESC
// and one byte) and every other control character but tab from line.
func printable(line []byte) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == 0x1b && i+1 < len(line) && line[i+1] == '[':
			for i += 2; i < len(line) && (line[i] < 0x40 || line[i] > 0x7e); i++ {
			}
		case c == 0x1b:
			i++
		case c == '\t' || c >= 0x20 && c != 0x7f:
			b.WriteByte(c)
		}
	}
	return b.String()
}
