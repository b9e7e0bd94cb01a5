// Package e2e runs corral for real: the corral binary as `corral server`
// with its own node agent, supervised containerd, the built-in pause
// image, a CNI bridge and real containers, driven by the real kubectl and
// client-go. It needs root and containerd (installed by
// scripts/install-deps.sh); without them every test is skipped and says
// why.
//
// Network safety: the cluster and service CIDRs are private test ranges
// routed to blackholes by the agent before any pod runs; tests only talk
// to loopback, the test bridge and the pods on it.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// skipReason is why this machine cannot run the tests ("" when it can).
var skipReason string

// binary is the corral binary built for this run.
var binary string

func TestMain(m *testing.M) {
	switch {
	case os.Geteuid() != 0:
		skipReason = "end-to-end tests need root (containerd, CNI, cgroups)"
	case !exists("/usr/bin/containerd") || !exists("/usr/sbin/runc") || !exists("/usr/lib/cni/bridge"):
		skipReason = "containerd, runc or the CNI plugins are missing: run scripts/install-deps.sh as root"
	}
	if skipReason != "" {
		fmt.Fprintln(os.Stderr, "e2e: skipping:", skipReason)
		os.Exit(m.Run())
	}
	// One run at a time on a machine: the runs share the test CIDRs, the
	// bridge name and the kernel's rules.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "corral-e2e.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: taking the machine lock:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "corral-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "corral")
	build := exec.Command("go", "build", "-o", binary, "corral/cmd/corral")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building corral:", err)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	os.RemoveAll(dir)
	// The lock lives as long as its file: unreferenced, the file would be
	// collected and closed mid-run, releasing the lock.
	runtime.KeepAlive(lock)
	os.Exit(code)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func needRoot(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// run runs a command and fails the test with its output on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
