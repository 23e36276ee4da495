// Package egress decides which addresses trail's outbound connections may
// reach. Sinks deliver to URLs and addresses that tenant admins configure;
// without a check, an admin of one tenant could make the server connect to
// the cloud metadata service, to trail's own API on loopback, or to any
// other service only the server can reach (server-side request forgery).
//
// A Policy is checked when a connection is made, against the address the
// name resolved to (net.Dialer.Control), so a DNS answer that changes
// after the sink was configured (DNS rebinding) cannot get round it. Sinks
// also check literal IP hosts when they are configured, so such a mistake
// is a 400 naming the field instead of a delivery error later.
package egress

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// BlockedError is the error of a connection the policy refuses.
type BlockedError struct {
	Addr   netip.Addr
	Prefix netip.Prefix // the denied range it falls in
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("egress: %s is in %s, which outbound connections may not reach (allow it with --sink-allow-networks)", e.Addr, e.Prefix)
}

// DefaultDenied are the ranges a Policy refuses unless allowed: loopback,
// link-local (which holds the cloud metadata services), the AWS IPv6
// metadata address, unspecified, multicast and broadcast. Private
// networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed: a SIEM on
// the internal network is the usual destination of a self-hosted trail.
// Deny them with NewPolicy when tenants are not trusted with them.
func DefaultDenied() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("100.100.100.200/32"), // Alibaba Cloud metadata
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
		netip.MustParsePrefix("::/128"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6
		netip.MustParsePrefix("ff00::/8"),
	}
}

// Policy is a set of denied ranges with exceptions. The zero Policy and a
// nil *Policy allow everything.
type Policy struct {
	allow []netip.Prefix
	deny  []netip.Prefix
}

// NewPolicy returns the policy that refuses DefaultDenied and deny, except
// addresses in allow: an allowed range wins over a denied one, so
// "127.0.0.1/32" in allow opens loopback's first address only.
func NewPolicy(allow, deny []netip.Prefix) *Policy {
	p := &Policy{}
	for _, a := range allow {
		p.allow = append(p.allow, canonical(a))
	}
	for _, d := range append(DefaultDenied(), deny...) {
		p.deny = append(p.deny, canonical(d))
	}
	return p
}

// canonical masks p and writes an IPv4-mapped IPv6 prefix as the IPv4
// prefix it covers, since Check compares unmapped addresses.
func canonical(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses (taken as /32 or /128). field names the setting in errors.
func ParsePrefixes(field, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(part)
		if err == nil && a.Zone() != "" {
			return nil, fmt.Errorf("%s: item %d %q has an IPv6 zone, which a network range cannot have", field, i+1, part)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: item %d %q is not an IP address or CIDR prefix", field, i+1, part)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Check returns a *BlockedError when p refuses addr, else nil.
// IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.
func (p *Policy) Check(addr netip.Addr) error {
	if p == nil {
		return nil
	}
	addr = addr.Unmap().WithZone("")
	for _, a := range p.allow {
		if a.Contains(addr) {
			return nil
		}
	}
	for _, d := range p.deny {
		if d.Contains(addr) {
			return &BlockedError{Addr: addr, Prefix: d}
		}
	}
	return nil
}

// CheckHost checks a configured host name or address before any
// connection: a literal IP the policy refuses, or "localhost", is an
// error. Other names are checked when they are dialled.
func (p *Policy) CheckHost(host string) error {
	if p == nil {
		return nil
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		return p.Check(netip.MustParseAddr("127.0.0.1"))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Check(a)
	}
	return nil
}

// Control is a net.Dialer Control function: it refuses a connection to an
// address p denies. It sees the resolved address, after DNS.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	if p == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("egress: dial address %q: %w", address, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("egress: dial address %q is not an IP address", address)
	}
	return p.Check(a)
}

// Dialer returns a net.Dialer whose connections p checks.
func (p *Policy) Dialer(d net.Dialer) *net.Dialer {
	if p != nil {
		d.Control = p.Control
	}
	return &d
}
