package network

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The root tests run in a throwaway network namespace: the test binary
// re-executes itself under `ip netns exec` with inNetnsEnv set, and the
// child does the work there.
const inNetnsEnv = "CORRAL_NETWORK_TEST_NETNS"

func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetnsEnv) != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	ns := fmt.Sprintf("corral-nt-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), inNetnsEnv+"="+ns)
	out, err := cmd.CombinedOutput()
	t.Logf("in netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("netns run failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test did not pass inside the netns")
	}
	return false
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// routeGet returns `ip route get DST`'s first line, or the error text.
func routeGet(dst string) string {
	out, err := exec.Command("ip", "route", "get", dst).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return "error: " + s
	}
	return strings.SplitN(s, "\n", 2)[0]
}

func TestPrepareAndNodeRoutes(t *testing.T) {
	if !inNetns(t) {
		return
	}
	ctx := context.Background()
	// A stand-in uplink with a default route: the routes under test must
	// win over it. Everything stays in this namespace.
	sh(t, "ip", "link", "set", "lo", "up")
	sh(t, "ip", "link", "add", "uplink0", "type", "bridge")
	sh(t, "ip", "addr", "add", "192.168.77.1/24", "dev", "uplink0")
	sh(t, "ip", "link", "set", "uplink0", "up")
	sh(t, "ip", "route", "add", "default", "via", "192.168.77.254")
	if got := routeGet("10.42.1.5"); !strings.Contains(got, "via 192.168.77.254") {
		t.Fatalf("before Prepare, pod traffic would use the default route: %s", got)
	}

	var h Host
	for i := 0; i < 2; i++ { // idempotent
		if err := h.Prepare(ctx, []string{"10.42.0.0/16"}, []string{"10.43.0.0/16"}); err != nil {
			t.Fatalf("Prepare #%d: %v", i+1, err)
		}
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward = %q", b)
	}
	routes := sh(t, "ip", "route", "show")
	if !strings.Contains(routes, "blackhole 10.42.0.0/16") || !strings.Contains(routes, "10.43.0.0/16 dev corral-svc") {
		t.Fatalf("routes:\n%s", routes)
	}
	if got := routeGet("10.42.1.5"); !strings.HasPrefix(got, "error") && !strings.Contains(got, "blackhole") {
		t.Errorf("pod address without a node route must hit the blackhole: %s", got)
	}
	if got := routeGet("10.43.0.10"); !strings.Contains(got, "dev corral-svc") {
		t.Errorf("service address must go to the sink: %s", got)
	}
	if got := routeGet("203.0.113.9"); !strings.Contains(got, "via 192.168.77.254") {
		t.Errorf("other traffic keeps the default route: %s", got)
	}

	// The node's own pod CIDR on its CNI bridge wins over the blackhole.
	sh(t, "ip", "link", "add", "corral0", "type", "bridge")
	sh(t, "ip", "addr", "add", "10.42.0.1/24", "dev", "corral0")
	sh(t, "ip", "link", "set", "corral0", "up")
	if got := routeGet("10.42.0.5"); !strings.Contains(got, "dev corral0") {
		t.Errorf("own pod CIDR: %s", got)
	}

	// Another node's pod CIDR via its IP, then removed (twice: no error).
	if err := h.RouteToNode(ctx, "10.42.1.0/24", "192.168.77.3"); err != nil {
		t.Fatal(err)
	}
	if got := routeGet("10.42.1.5"); !strings.Contains(got, "via 192.168.77.3") {
		t.Errorf("route to node: %s", got)
	}
	if err := h.RouteToNode(ctx, "10.42.1.0/24", "192.168.77.4"); err != nil {
		t.Fatal(err)
	}
	if got := routeGet("10.42.1.5"); !strings.Contains(got, "via 192.168.77.4") {
		t.Errorf("route to node after it moved: %s", got)
	}
	for i := 0; i < 2; i++ {
		if err := h.RemoveRouteToNode(ctx, "10.42.1.0/24", "192.168.77.4"); err != nil {
			t.Fatalf("remove #%d: %v", i+1, err)
		}
	}
	if got := routeGet("10.42.1.5"); !strings.HasPrefix(got, "error") && !strings.Contains(got, "blackhole") {
		t.Errorf("after removal the blackhole applies again: %s", got)
	}

	for _, bad := range [][2]string{{"10.42.1.0", "192.168.77.3"}, {"10.42.1.0/24", "nope"}, {"10.42.1.0/24", "fd00::1"}} {
		if err := h.RouteToNode(ctx, bad[0], bad[1]); err == nil {
			t.Errorf("RouteToNode(%q, %q): want an error", bad[0], bad[1])
		}
	}
	if err := h.Prepare(ctx, []string{"10.42.0.1/16"}, nil); err == nil {
		t.Error("Prepare with host bits set: want an error")
	}
}

// TestServiceSinkAllowsLocalDNAT shows why the service CIDR is not a
// blackhole: a connection from the node to a service IP is DNATed in the
// nat OUTPUT chain to a local listener and succeeds.
func TestServiceSinkAllowsLocalDNAT(t *testing.T) {
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables")
	}
	if !inNetns(t) {
		return
	}
	ctx := context.Background()
	sh(t, "ip", "link", "set", "lo", "up")
	sh(t, "ip", "addr", "add", "198.51.100.1/32", "dev", "lo")
	if err := (Host{}).Prepare(ctx, []string{"10.42.0.0/16"}, []string{"10.43.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "198.51.100.1:0")
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
			_, _ = io.WriteString(c, "hello")
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	sh(t, "iptables", "-t", "nat", "-A", "OUTPUT", "-d", "10.43.0.10/32", "-p", "tcp", "--dport", "80",
		"-j", "DNAT", "--to-destination", fmt.Sprintf("198.51.100.1:%d", port))
	c, err := net.DialTimeout("tcp", "10.43.0.10:80", 30*time.Second)
	if err != nil {
		t.Fatalf("dial service IP: %v", err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
}
