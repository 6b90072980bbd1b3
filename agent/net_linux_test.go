package agent

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeRandom scripts getrandom: the answers to non-blocking calls and to
// blocking calls, in order; a blocking call past the script blocks until
// the test ends.
type fakeRandom struct {
	mu       sync.Mutex
	nonblock []error
	blocking []error
	calls    []int // flags of each call
	release  chan struct{}
}

func (f *fakeRandom) getrandom(b []byte, flags int) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, flags)
	q := &f.blocking
	if flags&unix.GRND_NONBLOCK != 0 {
		q = &f.nonblock
	}
	if len(*q) == 0 {
		f.mu.Unlock()
		<-f.release
		return 0, unix.EAGAIN
	}
	err := (*q)[0]
	*q = (*q)[1:]
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(b), nil
}

func (f *fakeRandom) blockingCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, fl := range f.calls {
		if fl == 0 {
			n++
		}
	}
	return n
}

func TestWaitEntropy(t *testing.T) {
	for _, tc := range []struct {
		name         string
		nonblock     []error
		blocking     []error
		wantErr      error // nil: success
		wantBlocking int   // blocking getrandom calls made
	}{
		{"pool ready", []error{nil}, nil, nil, 0},
		{"no getrandom", []error{unix.ENOSYS}, nil, nil, 0},
		{"pool fills", []error{unix.EAGAIN}, []error{nil}, nil, 1},
		{"interrupted then fills", []error{unix.EAGAIN}, []error{unix.EINTR, unix.EINTR, nil}, nil, 3},
		{"blocking call fails", []error{unix.EAGAIN}, []error{unix.EFAULT}, unix.EFAULT, 1},
		{"never fills", []error{unix.EAGAIN}, nil, context.DeadlineExceeded, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRandom{nonblock: tc.nonblock, blocking: tc.blocking, release: make(chan struct{})}
			defer close(f.release)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := waitEntropy(ctx, f.getrandom)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("err %v, want nil", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v: the context was not honoured", d)
			}
			if n := f.blockingCalls(); n != tc.wantBlocking {
				t.Errorf("%d blocking getrandom calls, want %d", n, tc.wantBlocking)
			}
		})
	}
}

func TestDescribeAddr(t *testing.T) {
	_, addr, _ := net.ParseCIDR("10.0.2.0/24")
	addr.IP = net.IPv4(10, 0, 2, 15)
	if got := describeAddr(addr, net.IPv4(10, 0, 2, 2)); got != "10.0.2.15/24 via 10.0.2.2" {
		t.Errorf("with a gateway: %q", got)
	}
	if got := describeAddr(addr, nil); got != "10.0.2.15/24" {
		t.Errorf("without a gateway: %q", got)
	}
}
func TestIsDefault(t *testing.T) {
	for _, tc := range []struct {
		cidr string // "" means nil
		want bool
	}{
		{"", true},
		{"0.0.0.0/0", true},
		{"10.0.2.0/24", false},
		{"10.0.2.2/32", false},
	} {
		var dst *net.IPNet
		if tc.cidr != "" {
			_, n, err := net.ParseCIDR(tc.cidr)
			if err != nil {
				t.Fatal(err)
			}
			dst = n
		}
		if got := isDefault(dst); got != tc.want {
			t.Errorf("isDefault(%q) = %v, want %v", tc.cidr, got, tc.want)
		}
	}
}
