package cri

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/agent/containerd"
	"corral/agent/image"
	"corral/agent/runtime"
)

// The real test's own network: a bridge and a private /24 that exist only
// for the test; nothing is routed anywhere else.
const (
	testBridge = "critest0"
	testSubnet = "10.250.77.0/24"
	testImage  = "corral.invalid/busybox:critest"
	testCgroup = "/corral-critest"
)

const testConflist = `{
  "cniVersion": "1.0.0",
  "name": "critest",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": true, "hairpinMode": true, "ipMasq": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "dataDir": %q}
  }]
}`

// TestRealContainerd runs pods through a real containerd started by the
// supervisor: a host-network container that exits 3, and a bridged one
// that is stopped and removed, cgroups included.
func TestRealContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/bin/ctr", "/usr/lib/cni/bridge", image.BusyboxPath} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("missing %s", p)
		}
	}
	dir, err := os.MkdirTemp("", "critest")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sup := &containerd.Supervisor{DataDir: dir, SandboxImage: image.PauseImage}
	var r *Runtime
	defer func() {
		if r != nil { // a failed test must not leave pods (their shims outlive containerd)
			removeAll(t, r)
		}
		cancel()
		if sup.Done() != nil {
			<-sup.Done()
		}
		cleanupHost(t, dir)
	}()
	confDir := filepath.Join(dir, "cni", "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(testConflist, testBridge, testSubnet, filepath.Join(dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(confDir, "10-critest.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	endpoint, err := sup.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	imp := image.ImportOptions{Address: sup.Paths().Socket}
	if err := image.EnsurePause(ctx, imp, filepath.Join(dir, "images")); err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(dir, "images", "busybox.tar")
	if err := image.WriteImageFile(tar, func(w io.Writer) error { return image.BusyboxImage(w, testImage) }); err != nil {
		t.Fatal(err)
	}
	if err := image.Import(ctx, imp, tar); err != nil {
		t.Fatal(err)
	}

	r, err = New(ctx, Options{Endpoint: endpoint, PodLogDir: filepath.Join(dir, "pods"), CgroupRoot: testCgroup,
		RelistPeriod: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	changes := map[types.UID]int{}
	r.SetChangeHandler(func(uid types.UID) {
		mu.Lock()
		changes[uid]++
		mu.Unlock()
	})

	waitFor(t, "the node to be ready (CNI config loaded)", func() bool {
		_, err := r.NodeInfo(ctx)
		return err == nil
	})
	info, _ := r.NodeInfo(ctx)
	if !strings.HasPrefix(info.RuntimeVersion, "containerd://1.") {
		t.Errorf("runtime version %q", info.RuntimeVersion)
	}

	// A host-network job: exits 3 after writing a log line and a
	// termination message.
	job := realPod("job", "critest-uid-job", corev1.RestartPolicyNever, "echo hello; echo bye > /dev/termination-log; exit 3")
	job.Spec.HostNetwork = true
	if err := r.RunPodSandbox(ctx, job); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, job, &job.Spec.Containers[0], 0, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	var st *runtime.PodStatus
	waitFor(t, "the job's container to exit", func() bool {
		st, err = r.PodStatus(ctx, job.UID)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := st.Latest("main")
		return l != nil && l.State == runtime.ContainerExited
	})
	l, _ := st.Latest("main")
	if l.ExitCode != 3 || l.Reason != "Error" || l.Message != "bye\n" || l.StartedAt.IsZero() || l.FinishedAt.Before(l.StartedAt) || l.ImageRef == "" {
		t.Errorf("exited job container %+v", l)
	}
	if log, err := os.ReadFile(l.LogPath); err != nil || !strings.Contains(string(log), " stdout F hello\n") {
		t.Errorf("log %s: %q %v", l.LogPath, log, err)
	}
	if !st.SandboxReady || len(st.IPs) != 0 {
		t.Errorf("host-network sandbox: ready %v, IPs %v", st.SandboxReady, st.IPs)
	}
	waitFor(t, "the PLEG to report the job", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return changes[job.UID] > 0
	})

	// A bridged pod that ignores SIGTERM (PID 1), with a memory limit.
	svc := realPod("svc", "critest-uid-svc", corev1.RestartPolicyAlways, "echo up; exec sleep 3600")
	svc.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	if err := r.RunPodSandbox(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, svc, &svc.Spec.Containers[0], 0, runtime.ContainerConfig{
		Env: []corev1.EnvVar{{Name: "GREETING", Value: "hi there"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service container to run", func() bool {
		st, err = r.PodStatus(ctx, svc.UID)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := st.Latest("main")
		return l != nil && l.State == runtime.ContainerRunning
	})
	_, subnet, _ := net.ParseCIDR(testSubnet)
	if len(st.IPs) != 1 || !subnet.Contains(net.ParseIP(st.IPs[0])) {
		t.Errorf("bridged pod IPs %v, want one in %s", st.IPs, testSubnet)
	}
	l, _ = st.Latest("main")
	out, _, code, err := r.ExecSync(ctx, l.ID, []string{"sh", "-c", "echo $GREETING; exit 4"}, 10*time.Second)
	if err != nil || string(out) != "hi there\n" || code != 4 {
		t.Errorf("ExecSync: %q, code %d, %v", out, code, err)
	}
	if _, err := os.Stat(filepath.Join(sup.Paths().State, "runc", "k8s.io", rawID(l.ID))); err != nil {
		t.Errorf("runc state is not under containerd's own state directory: %v", err)
	}
	podCg := testCgroup + "/pod" + string(svc.UID)
	limit, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", podCg, rawID(l.ID), "memory.limit_in_bytes"))
	if err != nil || strings.TrimSpace(string(limit)) != fmt.Sprint(64<<20) {
		t.Errorf("container memory limit %q %v", limit, err)
	}
	// containerd dies: the supervisor restarts it and the running pod is
	// still there (its shim lived on), reachable on the same endpoint.
	killContainerd(t, sup)
	waitFor(t, "the restarted containerd to report the pod", func() bool {
		st, err = r.PodStatus(ctx, svc.UID)
		if err != nil {
			return false
		}
		l2, _ := st.Latest("main")
		return l2 != nil && l2.ID == l.ID && l2.State == runtime.ContainerRunning && st.SandboxReady
	})
	if u, err := r.Exec(ctx, l.ID, []string{"sh"}, false, true, true, true); err != nil || !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Errorf("Exec URL %q %v", u, err)
	}

	// The sandbox dies (as after a reboot): RunPodSandbox makes a new one
	// (attempt 1), the old container stays listed as exited, and the next
	// attempt runs in the new sandbox.
	if _, err := r.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: st.SandboxID}); err != nil {
		t.Fatal(err)
	}
	oldSandbox := st.SandboxID
	if st, err = r.PodStatus(ctx, svc.UID); err != nil || st.SandboxReady {
		t.Fatalf("after the sandbox died: %+v %v", st, err)
	}
	if err := r.RunPodSandbox(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, svc, &svc.Spec.Containers[0], 1, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "attempt 1 to run in the new sandbox", func() bool {
		st, err = r.PodStatus(ctx, svc.UID)
		if err != nil {
			t.Fatal(err)
		}
		l, prev := st.Latest("main")
		return l != nil && l.Attempt == 1 && l.State == runtime.ContainerRunning && prev != nil && prev.State == runtime.ContainerExited
	})
	if !st.SandboxReady || st.SandboxID == oldSandbox || len(st.IPs) != 1 {
		t.Errorf("recreated sandbox: %+v", st)
	}

	if err := r.StopPod(ctx, svc.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = r.PodStatus(ctx, svc.UID)
	if err != nil {
		t.Fatal(err)
	}
	l, _ = st.Latest("main")
	if st.SandboxReady || l.State != runtime.ContainerExited || l.ExitCode != 137 {
		t.Errorf("after StopPod: sandbox ready %v, container %+v", st.SandboxReady, l)
	}
	for _, p := range []*corev1.Pod{job, svc} {
		if err := r.StopPod(ctx, p.UID, 0); err != nil {
			t.Fatal(err)
		}
		if err := r.RemovePod(ctx, p.UID); err != nil {
			t.Fatal(err)
		}
		if st, err := r.PodStatus(ctx, p.UID); st != nil || err != nil {
			t.Errorf("%s after RemovePod: %+v %v", p.Name, st, err)
		}
	}
	for _, h := range []string{"memory", "cpu,cpuacct", "pids", "freezer"} {
		p := filepath.Join("/sys/fs/cgroup", h, podCg)
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pod cgroup %s left: %v", p, err)
		}
	}
	if pods, err := r.ListPods(ctx); err != nil || len(pods) != 0 {
		t.Errorf("ListPods after removal: %v %v", pods, err)
	}
}

// killContainerd SIGKILLs the supervised containerd and waits until the
// supervisor started a new one.
func killContainerd(t *testing.T, sup *containerd.Supervisor) {
	t.Helper()
	pid := func() int {
		b, _ := os.ReadFile(sup.Paths().PIDFile)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	old := pid()
	if old <= 1 {
		t.Fatalf("no containerd pid in %s", sup.Paths().PIDFile)
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "containerd to be restarted", func() bool { p := pid(); return p > 1 && p != old })
}

func realPod(name string, uid types.UID, policy corev1.RestartPolicy, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "critest", UID: uid},
		Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{
			Name: "main", Image: testImage, ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sh", "-c", script}, TerminationMessagePath: "/dev/termination-log",
		}}},
	}
}

// removeAll stops and removes every pod the runtime has.
func removeAll(t *testing.T, r *Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, err := r.ListPods(ctx)
	if err != nil {
		t.Logf("listing pods to clean up: %v", err)
		return
	}
	for _, p := range pods {
		if err := r.StopPod(ctx, p.UID, 0); err != nil {
			t.Logf("cleanup: %v", err)
		}
		if err := r.RemovePod(ctx, p.UID); err != nil {
			t.Logf("cleanup: %v", err)
		}
	}
}

// cleanupHost removes what the test made outside its directory (the
// bridge, the cgroup parents), unmounts what containerd left under the
// directory, then removes it.
func cleanupHost(t *testing.T, dir string) {
	if out, err := exec.Command("ip", "link", "del", testBridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find") {
		t.Logf("deleting bridge %s: %v %s", testBridge, err, out)
	}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		if e.IsDir() {
			_ = syscall.Rmdir(filepath.Join("/sys/fs/cgroup", e.Name(), testCgroup))
		}
	}
	_ = syscall.Rmdir(filepath.Join("/sys/fs/cgroup", testCgroup))
	for _, m := range mountsUnder(dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", m, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("removing %s: %v", dir, err)
	}
}

// mountsUnder lists mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			out = append([]string{fields[4]}, out...)
		}
	}
	return out
}
