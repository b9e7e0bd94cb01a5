package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// restartOptions give the restart test a cluster of its own, next to the
// shared one: other CIDRs, another bridge.
var restartOptions = clusterOptions{nodeName: "e2e-restart", clusterCIDR: "10.247.0.0/16", serviceCIDR: "10.248.0.0/16", bridge: "corrale2e1"}

// Restarting corral server (SIGTERM and SIGKILL) re-adopts running pods
// without restarting them, pods deleted while the agent was down are
// cleaned up when it is back, and a killed containerd is restarted by the
// agent with the pods still running and Ready.
func TestAgentRestart(t *testing.T) {
	needRoot(t)
	start := time.Now()
	c, err := startCluster(restartOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("own cluster started in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(c.stop)
	ns := c.namespace(t)
	ctx := context.Background()

	keeper := shPod("keeper", "touch /tmp/ready; exec sleep 3600")
	keeper.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/ready"}}}}
	forced, graceful := shPod("forced", "exec sleep 3600"), shPod("graceful", "exec sleep 3600")
	for _, p := range []*corev1.Pod{keeper, forced, graceful} {
		c.create(t, ns, p)
	}
	before := c.waitPod(t, ns, "keeper", 2*time.Minute, "Running and Ready", func(p *corev1.Pod) bool { return running(p) && ready(p) })
	doomed := map[string]types.UID{}
	for _, name := range []string{"forced", "graceful"} {
		doomed[name] = c.waitPod(t, ns, name, time.Minute, "Running", running).UID
	}
	for name, uid := range doomed {
		if !c.runtimeHas(t, uid) || !podCgroupExists(uid) {
			t.Fatalf("pod %s (%s) should have sandboxes and a pod cgroup before the restart", name, uid)
		}
	}
	// Every status the keeper gets from here on, to see Ready flips.
	flips := c.watchReadiness(t, ns, "keeper")
	unchanged := func(stage string) {
		t.Helper()
		p := c.waitPod(t, ns, "keeper", time.Minute, "Ready "+stage, ready)
		bc, pc := before.Status.ContainerStatuses[0], p.Status.ContainerStatuses[0]
		if pc.ContainerID != bc.ContainerID || pc.RestartCount != 0 || pc.State.Running == nil ||
			!pc.State.Running.StartedAt.Equal(&bc.State.Running.StartedAt) || p.Status.PodIP != before.Status.PodIP {
			t.Fatalf("keeper changed %s: container %s→%s, restarts %d, ip %s→%s, state %+v", stage,
				bc.ContainerID, pc.ContainerID, pc.RestartCount, before.Status.PodIP, p.Status.PodIP, pc.State)
		}
	}

	// SIGTERM; the pods are deleted through an API server without agent
	// (one force-deleted, one deleted normally: it waits for the agent's
	// confirmation); then the server runs again with its agent.
	c.stopServer(t, syscall.SIGTERM)
	c.restartServer(t, "--disable-agent")
	if err := c.client.CoreV1().Pods(ns).Delete(ctx, "forced", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.client.CoreV1().Pods(ns).Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := c.client.CoreV1().Pods(ns).Get(ctx, "graceful", metav1.GetOptions{}); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("graceful should be terminating while no agent runs: %v", err)
	}
	c.stopServer(t, syscall.SIGTERM)
	c.restartServer(t)
	unchanged("after a SIGTERM restart")
	c.waitGone(t, ns, "graceful")
	for name, uid := range doomed {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			return !c.runtimeHas(t, uid) && !podCgroupExists(uid), nil
		})
		if err != nil {
			t.Fatalf("pod %s deleted while the agent was down: runtime still has it: %v, pod cgroup still there: %v",
				name, c.runtimeHas(t, uid), podCgroupExists(uid))
		}
	}

	// SIGKILL: no orderly shutdown at all.
	c.stopServer(t, syscall.SIGKILL)
	c.restartServer(t)
	unchanged("after a SIGKILL restart")

	// containerd killed under the agent: the supervisor starts it again;
	// the pod stays Ready throughout and new pods still start.
	old := c.containerdPID(t)
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var now int
	for {
		if p, err := c.client.CoreV1().Pods(ns).Get(ctx, "keeper", metav1.GetOptions{}); err == nil && !ready(p) {
			t.Fatalf("keeper became unready while containerd was down: %+v", p.Status)
		}
		if now = c.containerdPIDOrZero(); now != 0 && now != old && c.criAnswers() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd was not restarted within 30s\n%s", c.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("containerd %d killed, %d answers", old, now)
	// After the SIGKILL the scheduler's lease of the killed server must
	// expire first (15s), so this pod may wait that long to be placed.
	c.create(t, ns, shPod("after", "exec sleep 3600"))
	c.waitPod(t, ns, "after", time.Minute, "Running after the containerd restart", running)
	unchanged("after containerd was killed")
	t.Logf("keeper readiness over the test: %v", flips())
}

// watchReadiness records the pod's Ready condition each time it changes,
// polled every 100ms until the test ends (a watch would hold the server's
// shutdown up: it waits for open requests).
func (c *cluster) watchReadiness(t *testing.T, ns, name string) func() []string {
	var (
		mu    sync.Mutex
		seen  []string
		last  *bool
		start = time.Now()
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			p, err := c.client.CoreV1().Pods(ns).Get(rctx, name, metav1.GetOptions{})
			rcancel()
			if err == nil {
				r := ready(p)
				mu.Lock()
				if last == nil || *last != r {
					seen = append(seen, fmt.Sprintf("%s ready=%v", time.Since(start).Round(100*time.Millisecond), r))
					last = &r
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// stopServer signals the server and waits for it to exit.
func (c *cluster) stopServer(t *testing.T, sig syscall.Signal) {
	t.Helper()
	start := time.Now()
	_ = c.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit within 30s of %s", sig)
	}
	c.log.Close()
	// The agent's containerd goes with it (on SIGKILL by its parent-death
	// signal); wait for that, so the next start finds none.
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 15*time.Second, true, func(context.Context) (bool, error) {
		return c.containerdPIDOrZero() == 0, nil
	})
	if err != nil {
		t.Fatalf("containerd still runs %s after the server exited", time.Since(start))
	}
	t.Logf("server stopped by %s in %s", sig, time.Since(start).Round(time.Millisecond))
}

// restartServer starts the server again on its data directory and waits
// for its node to be Ready, or with --disable-agent for the API.
func (c *cluster) restartServer(t *testing.T, extra ...string) {
	t.Helper()
	start := time.Now()
	if err := c.startServer(extra...); err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("API server did not come back: %v\n%s", err, c.logTail())
		}
	} else if err := c.waitNodeReady(start, time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("server %v up again in %s", extra, time.Since(start).Round(time.Millisecond))
}

func (c *cluster) waitGone(t *testing.T, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s was not removed: %v", ns, name, err)
	}
}

func (c *cluster) criSocket() string {
	return filepath.Join(c.dir, "agent", "containerd", "containerd.sock")
}

// criClient connects to the cluster's containerd.
func (c *cluster) criClient() (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+c.criSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { conn.Close() }, nil
}

func (c *cluster) criAnswers() bool {
	rt, done, err := c.criClient()
	if err != nil {
		return false
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = rt.Version(ctx, &runtimeapi.VersionRequest{})
	return err == nil
}

// runtimeHas tells whether containerd has any sandbox or container of
// the pod.
func (c *cluster) runtimeHas(t *testing.T, uid types.UID) bool {
	t.Helper()
	rt, done, err := c.criClient()
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sel := map[string]string{"io.kubernetes.pod.uid": string(uid)}
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		t.Fatal(err)
	}
	return len(sbs.Items)+len(cs.Containers) > 0
}

// podCgroupExists tells whether the pod's cgroup (/corral/pod<uid>) is
// left in any hierarchy under /sys/fs/cgroup.
func podCgroupExists(uid types.UID) bool {
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range append([]os.DirEntry{nil}, entries...) {
		root := "/sys/fs/cgroup"
		if e != nil {
			root = filepath.Join(root, e.Name())
		}
		if _, err := os.Stat(filepath.Join(root, "corral", "pod"+string(uid))); err == nil {
			return true
		}
	}
	return false
}

// containerdPIDOrZero finds the cluster's containerd by the config on its
// command line (0: not running).
func (c *cluster) containerdPIDOrZero() int {
	want := []byte("--config\x00" + filepath.Join(c.dir, "agent", "containerd", "config.toml"))
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, want) || bytes.Contains(cmdline, []byte("containerd-shim")) {
			continue
		}
		// A zombie has no command line; one that is exiting may still.
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && bytes.Contains(stat, []byte(") Z ")) {
			continue
		}
		return pid
	}
	return 0
}

func (c *cluster) containerdPID(t *testing.T) int {
	t.Helper()
	pid := c.containerdPIDOrZero()
	if pid == 0 {
		t.Fatal("the cluster's containerd is not running")
	}
	return pid
}
