package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDefaultPolicy(t *testing.T) {
	p := NewPolicy(nil, nil)
	denied := []string{"127.0.0.1", "127.3.4.5", "::1", "169.254.169.254", "fe80::1", "fd00:ec2::254",
		"0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "100.100.100.200"}
	for _, s := range denied {
		err := p.Check(netip.MustParseAddr(s))
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Errorf("Check(%s) = %v, want a BlockedError", s, err)
		}
	}
	allowed := []string{"10.1.2.3", "192.168.1.10", "172.16.0.1", "203.0.113.7", "2001:db8::1", "fd12::1", "8.8.8.8"}
	for _, s := range allowed {
		if err := p.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", s, err)
		}
	}
	var nilPolicy *Policy
	if err := nilPolicy.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("nil policy refused loopback: %v", err)
	}
}

func TestAllowWinsAndExtraDeny(t *testing.T) {
	allow, err := ParsePrefixes("allow", "127.0.0.1, ::1, ::ffff:169.254.1.0/120")
	if err != nil {
		t.Fatal(err)
	}
	deny, err := ParsePrefixes("deny", "10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPolicy(allow, deny)
	for s, want := range map[string]bool{"127.0.0.1": true, "127.0.0.2": false, "::1": true, "10.9.9.9": false, "192.168.0.1": true, "169.254.1.9": true, "169.254.2.1": false} {
		if got := p.Check(netip.MustParseAddr(s)) == nil; got != want {
			t.Errorf("Check(%s) allowed = %v, want %v", s, got, want)
		}
	}
}

func TestParsePrefixesNamesTheItem(t *testing.T) {
	_, err := ParsePrefixes("--sink-allow-networks", "10.0.0.0/8, nonsense")
	if err == nil || !strings.Contains(err.Error(), "--sink-allow-networks") || !strings.Contains(err.Error(), "item 2") {
		t.Fatalf("err = %v, want one naming the flag and item 2", err)
	}
	got, err := ParsePrefixes("x", " ")
	if err != nil || len(got) != 0 {
		t.Fatalf("empty list = %v, %v", got, err)
	}
}

func TestCheckHost(t *testing.T) {
	p := NewPolicy(nil, nil)
	for _, h := range []string{"localhost", "LOCALHOST.", "api.localhost", "127.0.0.1", "[::1]", "169.254.169.254"} {
		if p.CheckHost(h) == nil {
			t.Errorf("CheckHost(%q) allowed", h)
		}
	}
	for _, h := range []string{"siem.example.com", "10.0.0.5", "[2001:db8::1]"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("CheckHost(%q) = %v", h, err)
		}
	}
}

// TestDialerRefusesAtConnect dials a real listener on loopback through a
// name that resolves to it: the check sees the resolved address.
func TestDialerRefusesAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	d := NewPolicy(nil, nil).Dialer(net.Dialer{})
	_, err = d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("dial localhost = %v, want a BlockedError", err)
	}

	allow, _ := ParsePrefixes("allow", "127.0.0.1/32")
	d = NewPolicy(allow, nil).Dialer(net.Dialer{})
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}

func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8", "127.0.0.1, ::1", "x", "1.2.3.4/33", ",,", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixes("f", s)
		if err != nil {
			return
		}
		p := NewPolicy(ps, nil)
		for _, pr := range ps {
			// Every allowed prefix's own address is allowed.
			if err := p.Check(pr.Masked().Addr()); err != nil {
				t.Fatalf("allowed %s refused: %v", pr, err)
			}
		}
	})
}
