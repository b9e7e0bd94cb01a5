package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// machineLock takes the lock the e2e tests hold for their whole run
// (test/e2e/main_test.go), so a bench and a test run never share the
// kernel's routes, bridges and rules. It waits until ctx ends.
func machineLock(ctx context.Context) (func(), error) {
	path := filepath.Join(os.TempDir(), "corral-e2e.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !said {
			fmt.Printf("pod startup: waiting for %s (an e2e run holds it)\n", path)
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func allPids() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err == nil && pid != os.Getpid() {
			out = append(out, pid)
		}
	}
	return out
}

// otherContainerd tells whether a containerd not under dir runs (another
// cluster, whose CNI chains restore must leave alone).
func otherContainerd(dir string) bool {
	for _, pid := range allPids() {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if strings.HasSuffix(argv0, "containerd") && !bytes.Contains(cmdline, []byte(dir+"/")) {
			return true
		}
	}
	return false
}

// hostState is what the bench may add to the machine outside its data
// directories; restore removes what was not there before.
type hostState struct {
	routes map[string]bool // "blackhole 10.240.0.0/16" style keys, present before
	links  map[string]bool
	chains map[string]bool // "nat/CNI-HOSTPORT-DNAT"
}

var ipTables = []string{"nat", "filter"}

func snapshotHost(cidrs, links []string) *hostState {
	h := &hostState{routes: map[string]bool{}, links: map[string]bool{}, chains: map[string]bool{}}
	for _, c := range cidrs {
		h.routes[c] = routeExists(c)
	}
	for _, l := range links {
		h.links[l] = exec.Command("ip", "link", "show", "dev", l).Run() == nil
	}
	for _, c := range cniChains() {
		h.chains[c] = true
	}
	return h
}

func routeExists(cidr string) bool {
	out, err := exec.Command("ip", "route", "show", "exact", cidr).Output()
	return err == nil && len(bytes.TrimSpace(out)) > 0
}

// cniChains lists the CNI-* iptables chains (portmap's) as table/chain.
func cniChains() []string {
	var out []string
	for _, t := range ipTables {
		b, _ := exec.Command("iptables", "-t", t, "-S").Output()
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "-N" && strings.HasPrefix(f[1], "CNI-") {
				out = append(out, t+"/"+f[1])
			}
		}
	}
	return out
}

// restore deletes the routes, links and CNI chains that appeared since
// the snapshot (the agent leaves its routes and the service sink; portmap
// its chains), except what another cluster on the machine (under another
// dir than dir) still uses: the shared service sink while routes use it,
// CNI chains while another containerd runs.
func (h *hostState) restore(dir string) {
	for c, had := range h.routes {
		for !had && routeExists(c) {
			if exec.Command("ip", "route", "del", c).Run() != nil {
				break
			}
		}
	}
	for l, had := range h.links {
		if had {
			continue
		}
		if out, _ := exec.Command("ip", "route", "show", "dev", l).Output(); l == psServiceSink && len(bytes.TrimSpace(out)) > 0 {
			continue
		}
		_ = exec.Command("ip", "link", "del", l).Run()
	}
	if otherContainerd(dir) {
		return
	}
	var added []string
	for _, c := range cniChains() {
		if !h.chains[c] {
			added = append(added, c)
		}
	}
	for _, c := range added { // jumps into the chain first, then the chain
		t, name, _ := strings.Cut(c, "/")
		b, _ := exec.Command("iptables", "-t", t, "-S").Output()
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[0] == "-A" && strings.Contains(line, "-j "+name) {
				_ = exec.Command("iptables", append([]string{"-t", t, "-D"}, f[1:]...)...).Run()
			}
		}
		_ = exec.Command("iptables", "-t", t, "-F", name).Run()
	}
	for _, c := range added {
		t, name, _ := strings.Cut(c, "/")
		_ = exec.Command("iptables", "-t", t, "-X", name).Run()
	}
}

// pidRSS is a process's resident set size in MB.
func pidRSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb float64
			_, err := fmt.Sscan(strings.TrimPrefix(line, "VmRSS:"), &kb)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
