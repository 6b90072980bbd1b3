package agent

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestHasCarrier(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
		state netlink.LinkOperState
		want  bool
	}{
		{"carrier before linkwatch", unix.IFF_UP | unix.IFF_LOWER_UP, netlink.OperDown, true},
		{"no carrier", unix.IFF_UP, netlink.OperDown, false},
		{"operationally up", unix.IFF_UP, netlink.OperUp, true},
		{"driver without carrier reporting", unix.IFF_UP, netlink.OperUnknown, true},
		{"dormant", unix.IFF_UP, netlink.OperDormant, false},
	} {
		if got := hasCarrier(&netlink.LinkAttrs{RawFlags: tc.flags, OperState: tc.state}); got != tc.want {
			t.Errorf("%s: hasCarrier = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func ack(t *testing.T, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15))}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLeaseAddr(t *testing.T) {
	if got := leaseAddr(ack(t, dhcpv4.WithNetmask(net.CIDRMask(24, 32)))).String(); got != "10.0.2.15/24" {
		t.Errorf("with a mask: %s, want 10.0.2.15/24", got)
	}
	if got := leaseAddr(ack(t)).String(); got != "10.0.2.15/32" {
		t.Errorf("without a mask: %s, want 10.0.2.15/32", got)
	}
}

func TestLeaseRoutes(t *testing.T) {
	gw := net.IPv4(10, 0, 2, 2)
	_, onlink, _ := net.ParseCIDR("10.0.3.0/24")
	_, anyDst, _ := net.ParseCIDR("0.0.0.0/0")
	router := ack(t, dhcpv4.WithRouter(gw, net.IPv4(10, 0, 2, 3)))
	got := leaseRoutes(router, 7)
	if len(got) != 1 || got[0].LinkIndex != 7 || !got[0].Gw.Equal(gw) || got[0].Dst != nil {
		t.Errorf("router option: %v, want one default route via 10.0.2.2 on link 7", got)
	}
	classless := ack(t, dhcpv4.WithRouter(net.IPv4(10, 0, 2, 9)), dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
		&dhcpv4.Route{Dest: onlink, Router: net.IPv4zero}, &dhcpv4.Route{Dest: anyDst, Router: gw})))
	got = leaseRoutes(classless, 7)
	if len(got) != 2 {
		t.Fatalf("classless routes: %v, want 2 (the router option ignored)", got)
	}
	if got[0].Dst.String() != "10.0.3.0/24" || got[0].Scope != netlink.SCOPE_LINK || got[0].LinkIndex != 7 {
		t.Errorf("gateway-less route %v, want 10.0.3.0/24 on link scope", got[0])
	}
	if got[1].Dst.String() != "0.0.0.0/0" || !got[1].Gw.Equal(gw) || got[1].Scope == netlink.SCOPE_LINK {
		t.Errorf("default route %v, want via 10.0.2.2", got[1])
	}
	if got := leaseRoutes(ack(t), 7); len(got) != 0 {
		t.Errorf("no router: %v, want no routes", got)
	}
}

func TestDescribeLease(t *testing.T) {
	gw := net.IPv4(10, 0, 2, 2)
	mask := dhcpv4.WithNetmask(net.CIDRMask(24, 32))
	_, onlink, _ := net.ParseCIDR("10.0.3.0/24")
	_, anyDst, _ := net.ParseCIDR("0.0.0.0/0")
	for _, tc := range []struct {
		name string
		ack  *dhcpv4.DHCPv4
		want string
	}{
		{"router", ack(t, mask, dhcpv4.WithRouter(gw)), "10.0.2.15/24 via 10.0.2.2"},
		{"classless default", ack(t, mask, dhcpv4.WithRouter(net.IPv4(10, 0, 2, 9)), dhcpv4.WithOption(
			dhcpv4.OptClasslessStaticRoute(&dhcpv4.Route{Dest: onlink, Router: net.IPv4zero},
				&dhcpv4.Route{Dest: anyDst, Router: gw}))), "10.0.2.15/24 via 10.0.2.2"},
		{"classless, no default", ack(t, mask, dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
			&dhcpv4.Route{Dest: onlink, Router: gw}))), "10.0.2.15/24"},
		{"no routes", ack(t), "10.0.2.15/32"},
	} {
		if got := describeLease(tc.ack); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestResolvConfText(t *testing.T) {
	got := string(resolvConfText([]net.IP{net.IPv4(10, 0, 2, 3), net.IPv4(1, 1, 1, 1)}, []string{"a.example", "b.example"}, "example"))
	want := "domain example\nnameserver 10.0.2.3\nnameserver 1.1.1.1\nsearch a.example b.example\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := string(resolvConfText(nil, nil, "")); got != "" {
		t.Errorf("nothing to write: %q", got)
	}
	// The host's names cannot add lines or words.
	got = string(resolvConfText([]net.IP{net.IPv4(10, 0, 2, 3)}, []string{"ok.example", "x\nnameserver 6.6.6.6", "a b", ""},
		"evil\noptions ndots:15"))
	if want := "nameserver 10.0.2.3\nsearch ok.example\n"; got != want {
		t.Errorf("hostile names: got %q, want %q", got, want)
	}
}
