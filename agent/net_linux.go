package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
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
// (insomniacslk's nclient4, see configureDHCP) or statically.
type netlinkConfigurer struct{}

func (netlinkConfigurer) Configure(ctx context.Context, n config.Network) (string, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	link, err := waitLink(ctx, n.Interface)
	if err != nil {
		return "", err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return "", fmt.Errorf("link %s up: %w", n.Interface, err)
	}
	if n.Mode == "static" {
		err = configureStatic(link, n)
	} else {
		err = configureDHCP(ctx, link)
	}
	if err != nil {
		return "", err
	}
	return describeLink(link), nil
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

func configureStatic(link netlink.Link, n config.Network) error {
	addr, err := netlink.ParseAddr(n.Address)
	if err != nil {
		return fmt.Errorf("address %s: %w", n.Address, err)
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("adding %s: %w", n.Address, err)
	}
	if n.Gateway != "" {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(n.Gateway)}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s: %w", n.Gateway, err)
		}
	}
	if len(n.DNS) == 0 {
		return nil
	}
	var ns []net.IP
	for _, d := range n.DNS {
		ns = append(ns, net.ParseIP(d))
	}
	return writeResolvConf(ns, nil, "")
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

// describeLink lists the interface's IPv4 addresses and default gateway
// for the log, e.g. "10.0.2.15/24 via 10.0.2.2".
func describeLink(link netlink.Link) string {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return "?"
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	desc := strings.Join(out, ",")
	routes, err := netlink.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return desc
	}
	for _, r := range routes {
		if isDefault(r.Dst) && r.Gw != nil {
			return desc + " via " + r.Gw.String()
		}
	}
	return desc
}

// isDefault reports whether dst is the default destination (netlink
// reports it as 0.0.0.0/0; older versions as nil).
func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0
}
