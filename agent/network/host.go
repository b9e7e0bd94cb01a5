package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultServiceSink is the port-less bridge the service CIDR is routed to.
const DefaultServiceSink = "corral-svc"

// Host sets up a node's forwarding and routes. The zero value works on
// the current network namespace.
type Host struct {
	IPPath  string // iproute2's ip; default /usr/sbin/ip, /sbin/ip or $PATH
	ProcSys string // default /proc/sys
	// ServiceSink is the bridge (no ports, no addresses) that catches
	// service CIDR traffic, default corral-svc. It is not a blackhole route
	// because connect() to a blackholed address fails with EINVAL before
	// the nat OUTPUT chain can DNAT it to a pod, which would break service
	// access from the node itself; a packet routed into the sink is DNATed
	// (and re-routed) first, and otherwise dropped on the machine.
	ServiceSink string
}

func (h Host) ip(ctx context.Context, args ...string) (string, error) {
	bin := h.IPPath
	if bin == "" {
		bin = "ip"
		for _, p := range []string{"/usr/sbin/ip", "/sbin/ip"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
				break
			}
		}
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

func (h Host) sysctl(name, value string) error {
	root := h.ProcSys
	if root == "" {
		root = "/proc/sys"
	}
	p := filepath.Join(root, filepath.FromSlash(strings.ReplaceAll(name, ".", "/")))
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

func parsePrefixes(kind string, cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("%s CIDR %q: %w", kind, c, err)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%s CIDR %q has host bits set (did you mean %s?)", kind, c, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

// Prepare turns on IP forwarding (and bridge-nf-call-iptables when the
// kernel has br_netfilter, so kube-proxy-style rules see bridged pod
// traffic), routes every cluster CIDR to a blackhole and every service
// CIDR to the service sink. It is idempotent.
func (h Host) Prepare(ctx context.Context, clusterCIDRs, serviceCIDRs []string) error {
	cluster, err := parsePrefixes("cluster", clusterCIDRs)
	if err != nil {
		return err
	}
	service, err := parsePrefixes("service", serviceCIDRs)
	if err != nil {
		return err
	}
	v4, v6 := false, false
	for _, p := range append(append([]netip.Prefix{}, cluster...), service...) {
		v4, v6 = v4 || p.Addr().Is4(), v6 || p.Addr().Is6()
	}
	if v4 || len(cluster)+len(service) == 0 {
		if err := h.sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
	}
	if v6 {
		if err := h.sysctl("net.ipv6.conf.all.forwarding", "1"); err != nil {
			return err
		}
	}
	for _, name := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"} {
		err := h.sysctl(name, "1")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	for _, p := range cluster {
		if _, err := h.ip(ctx, "route", "replace", "blackhole", p.String()); err != nil {
			return err
		}
	}
	if len(service) > 0 {
		sink, err := h.ensureSink(ctx)
		if err != nil {
			return err
		}
		for _, p := range service {
			if _, err := h.ip(ctx, "route", "replace", p.String(), "dev", sink); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensureSink creates the service sink bridge if missing and sets it up.
func (h Host) ensureSink(ctx context.Context) (string, error) {
	sink := h.ServiceSink
	if sink == "" {
		sink = DefaultServiceSink
	}
	if len(sink) > 15 {
		return "", fmt.Errorf("service sink name %q is longer than 15 bytes", sink)
	}
	if _, err := h.ip(ctx, "link", "show", "dev", sink); err != nil {
		if _, err := h.ip(ctx, "link", "add", sink, "type", "bridge"); err != nil {
			return "", err
		}
	}
	// No IPv6 link-local address either: the sink must never answer.
	_ = h.sysctl("net.ipv6.conf."+sink+".disable_ipv6", "1")
	if _, err := h.ip(ctx, "link", "set", "dev", sink, "up"); err != nil {
		return "", err
	}
	return sink, nil
}

func nodeRoute(podCIDR, nodeIP string) (netip.Prefix, netip.Addr, error) {
	ps, err := parsePrefixes("pod", []string{podCIDR})
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	ip, err := netip.ParseAddr(nodeIP)
	if err != nil {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("node IP %q: %w", nodeIP, err)
	}
	if ip.Is4() != ps[0].Addr().Is4() {
		return netip.Prefix{}, netip.Addr{}, fmt.Errorf("node IP %s and pod CIDR %s are of different families", ip, ps[0])
	}
	return ps[0], ip, nil
}

// RouteToNode routes another node's pod CIDR via that node's IP (which
// must be on a directly connected network), replacing any route for it.
func (h Host) RouteToNode(ctx context.Context, podCIDR, nodeIP string) error {
	p, ip, err := nodeRoute(podCIDR, nodeIP)
	if err != nil {
		return err
	}
	_, err = h.ip(ctx, "route", "replace", p.String(), "via", ip.String())
	return err
}

// RemoveRouteToNode deletes the route RouteToNode added; a route already
// gone is not an error. Traffic to that CIDR falls back to the cluster
// blackhole.
func (h Host) RemoveRouteToNode(ctx context.Context, podCIDR, nodeIP string) error {
	p, ip, err := nodeRoute(podCIDR, nodeIP)
	if err != nil {
		return err
	}
	_, err = h.ip(ctx, "route", "del", p.String(), "via", ip.String())
	if err != nil && strings.Contains(err.Error(), "No such process") {
		return nil
	}
	return err
}
