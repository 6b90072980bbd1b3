package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/cvminit/cvminit/agent/config"
)

// DHCP tuning: per-request timeout and retries; the overall deadline
// bounds the whole exchange anyway.
const (
	dhcpTimeout = 3 * time.Second
	dhcpRetries = 5
	linkUpWait  = 10 * time.Second
	resolvConf  = "/etc/resolv.conf"
)

// netlinkConfigurer configures the interface with netlink, by DHCP (u-root
// dhclient) or statically.
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
		err = configureDHCP(ctx, n.Interface)
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
		if serr := (SystemClock{}).Sleep(ctx, 50*time.Millisecond); serr != nil {
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
	return dhclient.WriteDNSSettings(ns, nil, "", resolvConf)
}

// configureDHCP gets a DHCPv4 lease and applies it (address, routes, DNS).
func configureDHCP(ctx context.Context, name string) error {
	link, err := dhclient.IfUp(name, linkUpWait)
	if err != nil {
		return err
	}
	cfg := dhclient.Config{Timeout: dhcpTimeout, Retries: dhcpRetries, LogLevel: dhclient.LogInfo}
	var errs []error
	for r := range dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, cfg, linkUpWait) {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		if err := r.Lease.Configure(); err != nil {
			return fmt.Errorf("applying DHCP lease: %w", err)
		}
		return nil
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no DHCP answer"), ctx.Err())
	}
	return fmt.Errorf("DHCP on %s: %w", name, errors.Join(errs...))
}

// describeLink lists the interface's IPv4 addresses for the log.
func describeLink(link netlink.Link) string {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return "?"
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return strings.Join(out, ",")
}
