package simulated

import (
	"fmt"
	"net/netip"
	goruntime "runtime"
)

var goarch = goruntime.GOARCH

// ipam hands out addresses of one prefix, skipping the network address
// and the first host (the bridge's gateway on a real node).
type ipam struct {
	prefix netip.Prefix
	next   netip.Addr
	used   map[netip.Addr]struct{}
}

func newIPAM(cidr string) (*ipam, error) {
	if cidr == "" {
		cidr = "10.128.0.0/24"
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR: %w", err)
	}
	p = p.Masked()
	return &ipam{prefix: p, next: p.Addr().Next().Next(), used: map[netip.Addr]struct{}{}}, nil
}

func (a *ipam) cidr() string { return a.prefix.String() }

// allocate walks on from the last address handed out, so a freed address
// is not reused at once (as host-local IPAM does).
func (a *ipam) allocate() (string, error) {
	start := a.next
	for {
		ip := a.next
		a.next = ip.Next()
		if !a.prefix.Contains(a.next) || isBroadcast(a.prefix, a.next) {
			a.next = a.prefix.Addr().Next().Next()
		}
		if _, taken := a.used[ip]; !taken && a.prefix.Contains(ip) && !isBroadcast(a.prefix, ip) {
			a.used[ip] = struct{}{}
			return ip.String(), nil
		}
		if a.next == start {
			return "", fmt.Errorf("pod CIDR %s is exhausted", a.prefix)
		}
	}
}

func (a *ipam) reserve(s string) {
	if ip, err := netip.ParseAddr(s); err == nil && a.prefix.Contains(ip) {
		a.used[ip] = struct{}{}
	}
}

func (a *ipam) release(s string) {
	if ip, err := netip.ParseAddr(s); err == nil {
		delete(a.used, ip)
	}
}

// isBroadcast: the last address of an IPv4 prefix.
func isBroadcast(p netip.Prefix, ip netip.Addr) bool {
	if !ip.Is4() || p.Bits() >= 31 {
		return false
	}
	b := ip.As4()
	hostBits := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	mask := uint32(1)<<hostBits - 1
	return v&mask == mask
}
