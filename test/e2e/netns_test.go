package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"corral/test/hostclean"
)

// The multi-node test's private ranges, used by no other test (the shared
// cluster has 10.244/16 and 10.245/16, the restart test 10.247/16 and
// 10.248/16, agent/runtime/cri 10.250/16): the machines' LAN (a host
// bridge and one network namespace per node) and the cluster's pod and
// service ranges.
const (
	lanBridge       = "corralmn0"
	lanHostIP       = "10.246.0.1"
	lanPrefix       = "/24"
	lanNodeIPFormat = "10.246.0.%d" // 10 + node number
	mnClusterCIDR   = "10.251.0.0/16"
	mnServiceCIDR   = "10.252.0.0/16"
)

// lan is a host bridge with one network namespace per extra machine, each
// joined to it by a veth pair (eth0 inside). The host side has lanHostIP;
// namespace i has 10.246.0.(10+i) and no default route: it reaches only
// the LAN.
type lan struct {
	n     int
	nodes []string // namespace names
}

func newLAN(t *testing.T, n int) *lan {
	t.Helper()
	l := &lan{n: n}
	t.Cleanup(l.remove)
	l.remove() // leftovers of an interrupted run
	// The host drops what it gets for the test ranges instead of sending it
	// out through its default route (replies to pod addresses, say).
	for _, cidr := range []string{mnClusterCIDR, mnServiceCIDR} {
		run(t, "ip", "route", "replace", "blackhole", cidr)
	}
	run(t, "ip", "link", "add", lanBridge, "type", "bridge")
	run(t, "ip", "addr", "add", lanHostIP+lanPrefix, "dev", lanBridge)
	run(t, "ip", "link", "set", lanBridge, "up")
	for i := 1; i <= n; i++ {
		ns, hostEnd := fmt.Sprintf("corral-mn%d", i), fmt.Sprintf("cmn%dh", i)
		run(t, "ip", "netns", "add", ns)
		l.nodes = append(l.nodes, ns)
		run(t, "ip", "link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns)
		run(t, "ip", "link", "set", hostEnd, "master", lanBridge, "up")
		run(t, "ip", "-n", ns, "addr", "add", l.nodeIP(i)+lanPrefix, "dev", "eth0")
		run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		// containerd's streaming server and the CRI plugin use loopback.
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

func (l *lan) nodeIP(i int) string { return fmt.Sprintf(lanNodeIPFormat, 10+i) }

// command runs name in node i's network namespace. nsenter switches the
// network namespace only: `ip netns exec` also remounts /sys for the
// namespace, which hides /sys/fs/cgroup from runc.
func (l *lan) command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + l.nodes[i-1], "--", name}, args...)...)
}

// remove deletes the namespaces (their links and routes go with them),
// the bridge and the host's routes for the test ranges.
func (l *lan) remove() {
	for i := 1; i <= l.n; i++ {
		_ = exec.Command("ip", "netns", "del", fmt.Sprintf("corral-mn%d", i)).Run()
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("cmn%dh", i)).Run()
	}
	_ = exec.Command("ip", "link", "del", lanBridge).Run()
	for _, cidr := range []string{mnClusterCIDR, mnServiceCIDR} {
		_ = exec.Command("ip", "route", "del", "blackhole", cidr).Run()
	}
	l.nodes = nil
}

// stopProcess sends SIGTERM to cmd's process group, then SIGKILL after
// grace.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// tail is the end of a log file, for failure messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// podCgroups are the pod-level cgroups of these pod UIDs.
func podCgroups(uids []string) []string {
	rels := make([]string, len(uids))
	for i, uid := range uids {
		rels[i] = hostclean.PodCgroup(uid)
	}
	return rels
}
