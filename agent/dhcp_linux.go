package agent

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DHCP tuning. nclient4 doubles the timeout after each unanswered try and
// its "retries" count the tries, so each of the two exchanges (discover,
// request) gives up after 0.5+1+2+4+8 = 15.5 s; the step's deadline bounds
// the whole anyway. QEMU's server (and any server on the link) answers in
// milliseconds, so a lost first packet costs half a second, not one.
const (
	dhcpTimeout  = 500 * time.Millisecond
	dhcpTries    = 5
	carrierPoll  = 10 * time.Millisecond
	resolvConfRW = 0o644
)

// configureDHCP gets a DHCPv4 lease with insomniacslk's nclient4 (discover,
// offer, request, ack on a packet socket) and applies it as u-root's
// dhclient did: the address, the routes and /etc/resolv.conf; it describes
// the lease it applied.
func configureDHCP(ctx context.Context, link netlink.Link) (string, error) {
	name := link.Attrs().Name
	// nclient4 draws its transaction IDs from a random pool that must be
	// initialised first (see waitEntropy).
	if err := waitEntropy(ctx, unix.Getrandom); err != nil {
		return "", err
	}
	if err := waitCarrier(ctx, name); err != nil {
		return "", err
	}
	c, err := nclient4.New(name, nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpTries))
	if err != nil {
		return "", fmt.Errorf("DHCP on %s: %w", name, err)
	}
	defer c.Close()
	lease, err := c.Request(ctx)
	if err != nil {
		return "", fmt.Errorf("DHCP on %s: %w", name, err)
	}
	if err := applyLease(link, lease.ACK); err != nil {
		return "", fmt.Errorf("applying DHCP lease: %w", err)
	}
	return describeLease(lease.ACK), nil
}

// describeLease is the leased address and the default route's gateway, if
// the lease gave one, for the log.
func describeLease(ack *dhcpv4.DHCPv4) string {
	var gw net.IP
	for _, r := range leaseRoutes(ack, 0) {
		if isDefault(r.Dst) {
			gw = r.Gw
			break
		}
	}
	return describeAddr(leaseAddr(ack), gw)
}

// waitCarrier returns once name has a carrier (IFF_LOWER_UP), which the
// kernel reports as soon as the driver sees the link, or after linkUpWait.
// The operational state ("up") is not waited for: the kernel's linkwatch
// updates it up to a second later, and packets flow before that.
func waitCarrier(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, linkUpWait)
	defer cancel()
	for {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		if hasCarrier(link.Attrs()) {
			return nil
		}
		if err := (SystemClock{}).Sleep(ctx, carrierPoll); err != nil {
			return fmt.Errorf("interface %s has no carrier (state %s): %w", name, link.Attrs().OperState, err)
		}
	}
}

// hasCarrier reports whether a link can pass packets: the driver reports a
// carrier, or the operational state is already up (or unknown, for drivers
// that report none).
func hasCarrier(a *netlink.LinkAttrs) bool {
	return a.RawFlags&unix.IFF_LOWER_UP != 0 || a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown
}

// applyLease configures link from a DHCP ACK (u-root's Packet4.Configure).
func applyLease(link netlink.Link, ack *dhcpv4.DHCPv4) error {
	addr := leaseAddr(ack)
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: addr}); err != nil {
		return fmt.Errorf("adding %s: %w", addr, err)
	}
	for _, r := range leaseRoutes(ack, link.Attrs().Index) {
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("route %s: %w", r, err)
		}
	}
	var search []string
	if s := ack.DomainSearch(); s != nil {
		search = s.Labels
	}
	return writeResolvConf(ack.DNS(), search, ack.DomainName())
}

// leaseAddr is the leased address with the offered subnet mask, or a /32
// when the server sent none.
func leaseAddr(ack *dhcpv4.DHCPv4) *net.IPNet {
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.CIDRMask(32, 32)
	}
	return &net.IPNet{IP: ack.YourIPAddr, Mask: mask}
}

// leaseRoutes are the lease's routes on the link with index ifindex: the
// classless static routes when offered (RFC 3442 §1: the router option is
// then ignored), a route without a gateway being on-link; else a default
// route via the first router.
func leaseRoutes(ack *dhcpv4.DHCPv4, ifindex int) []*netlink.Route {
	var out []*netlink.Route
	if routes := ack.ClasslessStaticRoute(); routes != nil {
		for _, cr := range routes {
			r := &netlink.Route{LinkIndex: ifindex, Dst: cr.Dest, Gw: cr.Router}
			if r.Gw == nil || r.Gw.Equal(net.IPv4zero) {
				r.Scope = netlink.SCOPE_LINK
			}
			out = append(out, r)
		}
		return out
	}
	if gw := ack.Router(); len(gw) > 0 {
		out = append(out, &netlink.Route{LinkIndex: ifindex, Gw: gw[0]})
	}
	return out
}

// writeResolvConf writes resolvConf (u-root's WriteDNSSettings format).
func writeResolvConf(ns []net.IP, search []string, domain string) error {
	return os.WriteFile(resolvConf, resolvConfText(ns, search, domain), resolvConfRW)
}

// resolvConfText renders resolv.conf. The domain and search names come
// from the host's DHCP server: one that is not a single printable word
// (a newline would add lines of the host's choosing) is left out.
func resolvConfText(ns []net.IP, search []string, domain string) []byte {
	var b bytes.Buffer
	if resolvWord(domain) {
		fmt.Fprintf(&b, "domain %s\n", domain)
	}
	for _, ip := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", ip)
	}
	search = slices.DeleteFunc(slices.Clone(search), func(s string) bool { return !resolvWord(s) })
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	return b.Bytes()
}

// resolvWord reports whether s is non-empty printable ASCII without blanks.
func resolvWord(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return s != ""
}
