package cri

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"corral/agent/runtime"
)

func newTestRuntime(t *testing.T, sock string, mod func(*Options)) *Runtime {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := Options{Endpoint: sock, PodLogDir: filepath.Join(t.TempDir(), "pods"), CgroupFS: t.TempDir()}
	if mod != nil {
		mod(&opts)
	}
	r, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-r.Done()
	})
	return r
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "x"}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), SupplementalGroups: []int64{5},
				Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example:5000/shop/web:1.2", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"/bin/web"}, Args: []string{"--name=$(POD_NAME)", "$$(POD_NAME)", "$(MISSING)"},
				WorkingDir: "/srv",
				Ports:      []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP}, {ContainerPort: 9000}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				},
				SecurityContext: &corev1.SecurityContext{
					Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
					ReadOnlyRootFilesystem:   ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					RunAsGroup:               ptr.To[int64](2000),
				},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
		},
	}
}

func TestRunPodSandboxConfig(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, func(o *Options) { o.ClusterDNS = []string{"10.43.0.10"} })
	pod := testPod()
	pod.Spec.HostPID = true
	ctx := context.Background()
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if len(f.runSandbox) != 1 {
		t.Fatalf("RunPodSandbox sent %d times, want once (the second call finds it ready)", len(f.runSandbox))
	}
	cfg := f.runSandbox[0].Config
	if md := cfg.Metadata; md.Name != "web" || md.Namespace != "shop" || md.Uid != "uid-1" || md.Attempt != 0 {
		t.Errorf("metadata %v", md)
	}
	if cfg.Hostname != "web" {
		t.Errorf("hostname %q", cfg.Hostname)
	}
	if want := filepath.Join(r.opts.PodLogDir, "shop_web_uid-1"); cfg.LogDirectory != want {
		t.Errorf("log directory %q, want %q", cfg.LogDirectory, want)
	} else if _, err := os.Stat(want); err != nil {
		t.Errorf("log directory not created: %v", err)
	}
	wantLabels := map[string]string{"app": "web", LabelPodName: "web", LabelPodNamespace: "shop", LabelPodUID: "uid-1"}
	if !reflect.DeepEqual(cfg.Labels, wantLabels) {
		t.Errorf("labels %v", cfg.Labels)
	}
	if cfg.Annotations["note"] != "x" {
		t.Errorf("annotations %v", cfg.Annotations)
	}
	if len(cfg.PortMappings) != 2 || cfg.PortMappings[0].HostPort != 80 || cfg.PortMappings[0].ContainerPort != 8080 ||
		cfg.PortMappings[0].Protocol != runtimeapi.Protocol_TCP || cfg.PortMappings[1].Protocol != runtimeapi.Protocol_UDP {
		t.Errorf("port mappings %v", cfg.PortMappings)
	}
	l := cfg.Linux
	if l.CgroupParent != "/corral/poduid-1" {
		t.Errorf("cgroup parent %q", l.CgroupParent)
	}
	ns := l.SecurityContext.NamespaceOptions
	if ns.Network != runtimeapi.NamespaceMode_POD || ns.Pid != runtimeapi.NamespaceMode_NODE || ns.Ipc != runtimeapi.NamespaceMode_POD {
		t.Errorf("namespaces %v", ns)
	}
	if l.Sysctls["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("sysctls %v", l.Sysctls)
	}
	if d := cfg.DnsConfig; d == nil || d.Servers[0] != "10.43.0.10" || d.Searches[0] != "shop.svc.cluster.local" || d.Options[0] != "ndots:5" {
		t.Errorf("dns %v", d)
	}

	// Host network: no hostname, the node's network, the host's DNS.
	hp := testPod()
	hp.UID, hp.Spec.HostNetwork = "uid-2", true
	if err := r.RunPodSandbox(ctx, hp); err != nil {
		t.Fatal(err)
	}
	cfg = f.runSandbox[1].Config
	if cfg.Hostname != "" || cfg.Linux.SecurityContext.NamespaceOptions.Network != runtimeapi.NamespaceMode_NODE || cfg.DnsConfig != nil {
		t.Errorf("host network sandbox: hostname %q, namespaces %v, dns %v", cfg.Hostname, cfg.Linux.SecurityContext.NamespaceOptions, cfg.DnsConfig)
	}
}

func TestPodStatusMapping(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	if st, err := r.PodStatus(ctx, "nobody"); st != nil || err != nil {
		t.Fatalf("unknown pod: %v %v", st, err)
	}
	pod := testPod()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: "side:1"})
	for _, c := range pod.Spec.Containers {
		f.images[c.Image] = &runtimeapi.Image{Id: "img-" + c.Name, Uid: &runtimeapi.Int64Value{Value: 1}}
	}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for i := range pod.Spec.Containers {
		if err := r.StartContainer(ctx, pod, &pod.Spec.Containers[i], 0, runtime.ContainerConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := r.PodStatus(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	if st.UID != pod.UID || st.Name != "web" || st.Namespace != "shop" || !st.SandboxReady || len(st.IPs) != 1 || !strings.HasPrefix(st.IPs[0], "10.250.0.") {
		t.Fatalf("pod status %+v", st)
	}
	app, _ := st.Latest("app")
	if app == nil || app.State != runtime.ContainerRunning || !strings.HasPrefix(app.ID, "containerd://") || app.Image != pod.Spec.Containers[0].Image ||
		app.ImageRef != "sha256:img-app" || app.StartedAt.IsZero() || app.CreatedAt.IsZero() {
		t.Fatalf("app %+v", app)
	}
	if want := filepath.Join(r.opts.PodLogDir, "shop_web_uid-1", "app", "0.log"); app.LogPath != want {
		t.Errorf("log path %q, want %q", app.LogPath, want)
	}

	// app fails after writing a termination message; side is OOM-killed.
	host := f.create[0].Config.Annotations[AnnotationTerminationLogHost]
	if err := os.WriteFile(host, []byte("disk full"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.exit(rawID(app.ID), 2, "")
	side, _ := st.Latest("side")
	f.exit(rawID(side.ID), 137, "OOMKilled")
	st, err = r.PodStatus(ctx, pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	app, _ = st.Latest("app")
	side, _ = st.Latest("side")
	if app.State != runtime.ContainerExited || app.ExitCode != 2 || app.Reason != "Error" || app.Message != "disk full" || app.FinishedAt.IsZero() {
		t.Errorf("exited app %+v", app)
	}
	if side.State != runtime.ContainerExited || side.ExitCode != 137 || side.Reason != "OOMKilled" {
		t.Errorf("exited side %+v", side)
	}

	list, err := r.ListPods(ctx)
	if err != nil || len(list) != 1 || list[0].UID != pod.UID || len(list[0].Containers) != 2 {
		t.Fatalf("ListPods %v %v", list, err)
	}
}

func TestNotReadySandboxIsRecreated(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	pod := testPod()
	c := &pod.Spec.Containers[0]
	f.images[c.Image] = &runtimeapi.Image{Id: "sha256:abc", Uid: &runtimeapi.Int64Value{Value: 1}}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, pod, c, 0, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	before, _ := r.PodStatus(ctx, pod.UID)
	// The host "rebooted": the sandbox died and took the container along.
	f.mu.Lock()
	f.sandboxes[before.SandboxID].state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	f.mu.Unlock()
	f.exit(rawID(before.Containers[0].ID), 255, "Unknown")
	st, _ := r.PodStatus(ctx, pod.UID)
	if st.SandboxReady {
		t.Fatal("dead sandbox reported ready")
	}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if n := len(f.runSandbox); n != 2 || f.runSandbox[1].Config.Metadata.Attempt != 1 {
		t.Fatalf("sandbox not recreated with attempt 1: %d runs", n)
	}
	st, _ = r.PodStatus(ctx, pod.UID)
	if !st.SandboxReady || st.SandboxID == before.SandboxID {
		t.Fatalf("status after recreation %+v", st)
	}
	// The old attempt stays visible, so the agent restarts with attempt 1.
	if l, _ := st.Latest("app"); l == nil || l.State != runtime.ContainerExited || l.ExitCode != 255 {
		t.Fatalf("old container not reported: %+v", l)
	}
	if err := r.StartContainer(ctx, pod, c, 1, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := f.create[1].PodSandboxId; got != st.SandboxID {
		t.Errorf("restart went to sandbox %s, want the new %s", got, st.SandboxID)
	}
}

func TestStopAndRemovePod(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	pod := testPod()
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: "side:1"})
	for _, c := range pod.Spec.Containers {
		f.images[c.Image] = &runtimeapi.Image{Id: "img-" + c.Name, Uid: &runtimeapi.Int64Value{Value: 1}}
	}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for i := range pod.Spec.Containers {
		if err := r.StartContainer(ctx, pod, &pod.Spec.Containers[i], 0, runtime.ContainerConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	// The pod's cgroups as containerd leaves them: one per hierarchy,
	// with a container's child cgroup, and a symlinked hierarchy name.
	cg := r.opts.CgroupFS
	for _, h := range []string{"cpu,cpuacct", "memory", "pids"} {
		if err := os.MkdirAll(filepath.Join(cg, h, "corral", "poduid-1", "c0001"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("cpu,cpuacct", filepath.Join(cg, "cpu")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cg, "memory", "corral", "podother"), 0o755); err != nil {
		t.Fatal(err)
	}

	if err := r.StopPod(ctx, pod.UID, 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(f.stops) != 2 || f.stops[0].Timeout != 3 || f.stops[1].Timeout != 3 {
		t.Errorf("stops %v, want two with timeout 3", f.stops)
	}
	st, _ := r.PodStatus(ctx, pod.UID)
	if st.SandboxReady {
		t.Error("sandbox still ready after StopPod")
	}
	for _, c := range st.Containers {
		if c.State != runtime.ContainerExited {
			t.Errorf("%s still %v", c.Name, c.State)
		}
	}
	if err := r.StopPod(ctx, pod.UID, 0); err != nil {
		t.Errorf("stopping twice: %v", err)
	}
	if err := r.StopPod(ctx, "unknown", 0); err != nil {
		t.Errorf("stopping an unknown pod: %v", err)
	}

	if err := r.RemovePod(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if st, err := r.PodStatus(ctx, pod.UID); st != nil || err != nil {
		t.Errorf("removed pod still reported: %+v %v", st, err)
	}
	for _, h := range []string{"cpu,cpuacct", "memory", "pids"} {
		if _, err := os.Stat(filepath.Join(cg, h, "corral", "poduid-1")); !os.IsNotExist(err) {
			t.Errorf("%s: pod cgroup left: %v", h, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cg, "memory", "corral", "podother")); err != nil {
		t.Errorf("another pod's cgroup was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.opts.PodLogDir, "shop_web_uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod log directory left: %v", err)
	}
	if err := r.RemovePod(ctx, pod.UID); err != nil {
		t.Errorf("removing twice: %v", err)
	}
}

func TestPLEGReportsChanges(t *testing.T) {
	f, sock := startFake(t)
	fc := testingclock.NewFakeClock(time.Now())
	r := newTestRuntime(t, sock, func(o *Options) { o.Clock = fc })
	changes := make(chan types.UID, 100)
	r.SetChangeHandler(func(uid types.UID) { changes <- uid })
	ctx := context.Background()
	pod := testPod()
	c := &pod.Spec.Containers[0]
	f.images[c.Image] = &runtimeapi.Image{Id: "sha256:abc", Uid: &runtimeapi.Int64Value{Value: 1}}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, pod, c, 0, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	// New took the baseline before the pod existed: its creation is a
	// change. Drain those, then see a quiet relist report nothing.
	calls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.listCalls }
	if got := waitChange(t, fc, changes); got != pod.UID {
		t.Fatalf("creation reported for %q", got)
	}
	waitRelist(t, fc, calls)
	for len(changes) > 0 {
		<-changes
	}
	waitRelist(t, fc, calls)
	select {
	case uid := <-changes:
		t.Fatalf("change reported without one: %s", uid)
	default:
	}

	st, _ := r.PodStatus(ctx, pod.UID)
	f.exit(rawID(st.Containers[0].ID), 1, "")
	got := waitChange(t, fc, changes)
	if got != pod.UID {
		t.Errorf("change for %q, want %q", got, pod.UID)
	}
}

// waitRelist steps the clock until one more relist happened.
func waitRelist(t *testing.T, fc *testingclock.FakeClock, calls func() int) {
	t.Helper()
	before := calls()
	waitFor(t, "a relist", func() bool {
		if fc.HasWaiters() {
			fc.Step(time.Second)
		}
		time.Sleep(10 * time.Millisecond)
		return calls() > before+1
	})
}

func waitChange(t *testing.T, fc *testingclock.FakeClock, ch <-chan types.UID) types.UID {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if fc.HasWaiters() {
			fc.Step(time.Second)
		}
		select {
		case uid := <-ch:
			return uid
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("no change reported")
	return ""
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChanged(t *testing.T) {
	last := map[string]plegEntry{"c/1": {"a", 1}, "c/2": {"b", 1}, "s/3": {"c", 0}}
	cur := map[string]plegEntry{"c/1": {"a", 2}, "s/3": {"c", 0}, "c/4": {"d", 0}}
	got := map[types.UID]bool{}
	for _, uid := range changed(last, cur) {
		got[uid] = true
	}
	if !reflect.DeepEqual(got, map[types.UID]bool{"a": true, "b": true, "d": true}) {
		t.Errorf("changed %v", got)
	}
}

func TestExecAndStreaming(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	out, _, code, err := r.ExecSync(ctx, "containerd://c9", []string{"cat"}, time.Second)
	if err != nil || string(out) != "c9:cat" || code != 3 {
		t.Errorf("ExecSync: %q %d %v", out, code, err)
	}
	if u, err := r.Exec(ctx, "containerd://c9", []string{"sh"}, true, true, true, false); err != nil || u != "http://127.0.0.1:1/exec/c9" {
		t.Errorf("Exec: %q %v", u, err)
	}
	if u, err := r.Attach(ctx, "containerd://c9", false, true, true, true); err != nil || u != "http://127.0.0.1:1/attach/c9" {
		t.Errorf("Attach: %q %v", u, err)
	}
	if _, err := r.PortForward(ctx, "uid-1", []int32{80}); err == nil {
		t.Error("PortForward without a sandbox succeeded")
	}
	pod := testPod()
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	st, _ := r.PodStatus(ctx, pod.UID)
	if u, err := r.PortForward(ctx, pod.UID, []int32{80}); err != nil || u != "http://127.0.0.1:1/portforward/"+st.SandboxID+"/[80]" {
		t.Errorf("PortForward: %q %v", u, err)
	}
	if err := r.UpdatePodCIDR("10.250.0.0/24"); err != nil {
		t.Errorf("UpdatePodCIDR on a runtime without the RPC: %v", err)
	}
	if err := r.ReopenContainerLog(ctx, "containerd://c9"); err != nil || len(f.reopened) != 1 || f.reopened[0] != "c9" {
		t.Errorf("ReopenContainerLog: %v, runtime saw %v", err, f.reopened)
	}
}

func TestNodeInfo(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, func(o *Options) { o.Clock = clock.RealClock{} })
	info, err := r.NodeInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.RuntimeVersion != "fake://1.0" || info.ContainerPrefix != "containerd" || info.OS != "linux" || info.KernelVersion == "" || info.OSImage == "" {
		t.Errorf("info %+v", info)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := info.Capacity[name]; !ok || q.Sign() <= 0 {
			t.Errorf("capacity %s = %v", name, q)
		}
	}
	f.mu.Lock()
	f.networkReady = false
	f.mu.Unlock()
	if _, err := r.NodeInfo(context.Background()); err == nil || !strings.Contains(err.Error(), "NetworkReady") {
		t.Errorf("network not ready: %v", err)
	}
}

func TestConvertStatus(t *testing.T) {
	s := &runtimeapi.ContainerStatus{Id: "abc", Metadata: &runtimeapi.ContainerMetadata{Name: "c", Attempt: 4},
		State: runtimeapi.ContainerState_CONTAINER_EXITED, StartedAt: 2e9, FinishedAt: 1e9, ExitCode: 0,
		Image: &runtimeapi.ImageSpec{Image: "sha256:img"}, ImageId: "sha256:id", LogPath: "c/4.log"}
	cs := convertStatus(s, "/logs/ns_p_u")
	if cs.ID != "containerd://abc" || cs.Name != "c" || cs.Attempt != 4 || cs.State != runtime.ContainerExited ||
		cs.Reason != "Completed" || !cs.FinishedAt.Equal(cs.StartedAt) || cs.Image != "sha256:img" ||
		cs.ImageRef != "sha256:id" || cs.LogPath != "/logs/ns_p_u/c/4.log" {
		t.Errorf("converted %+v", cs)
	}
	s.State = runtimeapi.ContainerState_CONTAINER_UNKNOWN
	if cs := convertStatus(s, ""); cs.State != runtime.ContainerUnknown || cs.LogPath != "c/4.log" {
		t.Errorf("unknown state converted %+v", cs)
	}
}
