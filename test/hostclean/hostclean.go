// Package hostclean removes what a real corral node started by a test or
// a benchmark can leave on the host after it is stopped or killed:
// containerd and its shims (they outlive the agent), containers left in
// pod-level cgroups (they survive a killed shim, and containerd never
// removes those cgroups), and mounts under the node's data directory.
// The end-to-end tests and the pod-startup benchmark share it.
package hostclean

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"corral/agent/runtime/cri"
)

// PIDsMentioning lists the processes, other than this one, whose command
// line names a path below dir.
func PIDsMentioning(dir string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir+"/")) {
			out = append(out, pid)
		}
	}
	return out
}

// ProcessesMentioning describes those processes ("pid: command line"),
// for failure messages.
func ProcessesMentioning(dir string) []string {
	var out []string
	for _, pid := range PIDsMentioning(dir) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil {
			out = append(out, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte(" "))))
		}
	}
	return out
}

// KillMentioning SIGKILLs every process whose command line names dir.
func KillMentioning(dir string) {
	for _, pid := range PIDsMentioning(dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// cgroupRoots are /sys/fs/cgroup and each v1 hierarchy in it.
func cgroupRoots() []string {
	roots := []string{"/sys/fs/cgroup"}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		if e.IsDir() {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// PodCgroup is the cgroup (relative to a hierarchy's root) the agent gives
// the pod with this UID.
func PodCgroup(uid string) string { return filepath.Join("corral", "pod"+uid) }

// RemoveCgroups kills what is left in each cgroup rel (relative to every
// hierarchy's root) and removes it, retrying for up to 10 s while killed
// processes exit. It returns the cgroups it could not remove.
func RemoveCgroups(rels []string) []string {
	var left []string
	deadline := time.Now().Add(10 * time.Second)
	for _, rel := range rels {
		for _, root := range cgroupRoots() {
			dir := filepath.Join(root, rel)
			killIn(dir)
			err := cri.RemoveCgroupTree(dir)
			for err != nil && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				killIn(dir)
				err = cri.RemoveCgroupTree(dir)
			}
			if err != nil {
				left = append(left, dir)
			}
		}
	}
	return left
}

// killIn SIGKILLs every process in the cgroup dir and its children.
func killIn(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

// MountsUnder lists what is still mounted below dir.
func MountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			out = append(out, f[1])
		}
	}
	return out
}

// UnmountUnder lazily unmounts everything mounted below dir, deepest first.
func UnmountUnder(dir string) {
	targets := MountsUnder(dir)
	for i := len(targets) - 1; i >= 0; i-- {
		_ = syscall.Unmount(targets[i], syscall.MNT_DETACH)
	}
}
