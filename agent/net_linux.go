package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cvminit/cvminit/agent/config"
)

// Network waits and files.
const (
	linkUpWait = 10 * time.Second
	linkPoll   = 10 * time.Millisecond
	resolvConf = "/etc/resolv.conf"
)

// netlinkConfigurer configures the interface with netlink, by DHCP
// (insomniacslk's nclient4, see configureDHCP) or statically. Loopback is
// left to the confidential OS: nothing cvminit does uses it.
type netlinkConfigurer struct{}

func (netlinkConfigurer) Configure(ctx context.Context, n config.Network) (string, error) {
	link, err := waitLink(ctx, n.Interface)
	if err != nil {
		return "", err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("link %s up: %w", n.Interface, err)
	}
	if n.Mode == "static" {
		return configureStatic(link, n)
	}
	return configureDHCP(ctx, link)
}

// waitLink waits for the interface to appear (its driver may still be
// probing after the module loaded).
func waitLink(ctx context.Context, name string) (netlink.Link, error) {
	for {
		link, err := netlink.LinkByName(name)
		if err == nil {
			return link, nil
		}
		if serr := (SystemClock{}).Sleep(ctx, linkPoll); serr != nil {
			return nil, fmt.Errorf("interface %s did not appear: %w (%w)", name, err, serr)
		}
	}
}

// configureStatic applies n's address, gateway and name servers to link and
// describes what it applied.
func configureStatic(link netlink.Link, n config.Network) (string, error) {
	addr, err := netlink.ParseAddr(n.Address)
	if err != nil {
		return "", fmt.Errorf("address %s: %w", n.Address, err)
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return "", fmt.Errorf("adding %s: %w", n.Address, err)
	}
	gw := net.ParseIP(n.Gateway)
	if gw != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}
		if err := netlink.RouteReplace(r); err != nil {
			return "", fmt.Errorf("default route via %s: %w", n.Gateway, err)
		}
	}
	desc := describeAddr(addr.IPNet, gw)
	if len(n.DNS) == 0 {
		return desc, nil
	}
	var ns []net.IP
	for _, d := range n.DNS {
		ns = append(ns, net.ParseIP(d))
	}
	return desc, writeResolvConf(ns, nil, "")
}

// describeAddr is an address and its default gateway, if any, for the log:
// "10.0.2.15/24 via 10.0.2.2".
func describeAddr(addr *net.IPNet, gw net.IP) string {
	if gw == nil {
		return addr.String()
	}
	return addr.String() + " via " + gw.String()
}

// getrandomFunc is unix.Getrandom's signature.
type getrandomFunc func(buf []byte, flags int) (int, error)

// waitEntropy returns once the kernel's random pool is initialised, or
// with an error when ctx ends first.
//
// The DHCP client (insomniacslk's, through u-root/uio/rand) takes each transaction
// ID from getrandom(GRND_NONBLOCK) in a busy loop of up to two minutes
// that ignores ctx. Non-blocking calls never make the kernel collect
// entropy, so on a CPU without a trusted RDRAND (QEMU's qemu64 model
// under TCG, for one) the pool stays uninitialised, the loop spins and
// the step only ends at the boot deadline. A blocking getrandom starts
// the kernel's jitter-entropy collection, which initialises the pool in
// about a second.
func waitEntropy(ctx context.Context, getrandom getrandomFunc) error {
	var b [1]byte
	if _, err := getrandom(b[:], unix.GRND_NONBLOCK); !errors.Is(err, unix.EAGAIN) {
		return nil // ready, or no getrandom: then uio falls back to /dev/urandom
	}
	done := make(chan error, 1)
	go func() { // left behind if ctx ends first; the boot fails then anyway
		var b [1]byte
		_, err := getrandom(b[:], 0)
		for errors.Is(err, unix.EINTR) {
			_, err = getrandom(b[:], 0)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("waiting for the kernel random pool: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kernel random pool not initialised (no RDRAND or virtio-rng?): %w", ctx.Err())
	}
}

// isDefault reports whether dst is the default destination (a route with
// none, or 0.0.0.0/0).
func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}
