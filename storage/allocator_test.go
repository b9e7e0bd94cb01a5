package storage

import (
	"net"
	"testing"
)

func TestIPRangeArithmetic(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.43.0.0/16")
	a := NewIPAllocator(nil, "ips", cidr)
	if a.First() != "10.43.0.1" {
		t.Fatalf("first %s", a.First())
	}
	for _, c := range []struct {
		ip string
		ok bool
	}{{"10.43.0.1", true}, {"10.43.255.254", true}, {"10.43.0.0", false}, {"10.43.255.255", false}, {"10.44.0.1", false}, {"nope", false}} {
		if got := a.Contains(c.ip); got != c.ok {
			t.Errorf("Contains(%s) = %v", c.ip, got)
		}
	}
	off, _ := a.offset("10.43.1.0")
	if a.valueOf(off) != "10.43.1.0" {
		t.Fatalf("round trip gave %s", a.valueOf(off))
	}
}

func TestPickFreePrefersUpperBand(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.0.0.0/24")
	a := NewIPAllocator(nil, "ips", cidr)
	taken := map[int]bool{}
	for i := 0; i < 50; i++ {
		off, ok := a.pickFree(taken)
		if !ok || off < a.static {
			t.Fatalf("pick %d: offset %d in the static band (%d)", i, off, a.static)
		}
		taken[off] = true
	}
	// With the upper band full, the static band is used.
	for off := a.static; off < a.size; off++ {
		taken[off] = true
	}
	if off, ok := a.pickFree(taken); !ok || off >= a.static {
		t.Fatalf("fallback pick: %d %v", off, ok)
	}
	for off := 0; off < a.static; off++ {
		taken[off] = true
	}
	if _, ok := a.pickFree(taken); ok {
		t.Fatal("a full range still picked a value")
	}
}

func TestPortRange(t *testing.T) {
	a := NewPortAllocator(nil, "ports", 30000, 2768)
	if !a.Contains("30000") || !a.Contains("32767") || a.Contains("32768") || a.Contains("29999") {
		t.Fatal("port range bounds")
	}
}
