package agent

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"corral/agent/runtime/simulated"
)

type harness struct {
	t      *testing.T
	agent  *Agent
	client *fake.Clientset
	clock  *testingclock.FakeClock
}

// start runs an agent with n simulated nodes (n-0 ...) on a fake client
// and a fake clock; containers start 1s after creation.
func start(t *testing.T, n int, objs ...*corev1.Pod) *harness {
	t.Helper()
	return startWith(t, n, nil, objs...)
}

// startWith is start with the options changed by tweak before New.
func startWith(t *testing.T, n int, tweak func(*Options), objs ...*corev1.Pod) *harness {
	t.Helper()
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	client := fake.NewClientset()
	client.PrependReactor("create", "nodes", func(action k8stesting.Action) (bool, k8sruntime.Object, error) {
		n := action.(k8stesting.CreateAction).GetObject().(*corev1.Node)
		n.UID = types.UID("uid-" + n.Name) // the fake assigns none; leases need it as owner
		return false, nil, nil
	})
	for _, p := range objs {
		if _, err := client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sim := SimulatedNodes{Count: n, Name: "n", Zones: []string{"z1", "z2"}, CPU: resource.MustParse("4"),
		Memory: resource.MustParse("8Gi"), EphemeralStorage: resource.MustParse("100Gi"), Pods: 110, GPUs: 2,
		StartDelay: time.Second, JobRunFor: 3 * time.Second, Clock: clk}
	configs, err := sim.NodeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Client: client, Clock: clk, Nodes: configs, PodWorkers: 4, NodeWorkers: 2}
	if tweak != nil {
		tweak(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, agent: a, client: client, clock: clk}
}

// eventually checks cond, stepping the fake clock by step between checks.
func (h *harness) eventually(what string, step time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s (fake clock at %s)", what, h.clock.Now().Format(time.TimeOnly))
		}
		time.Sleep(2 * time.Millisecond)
		h.clock.Step(step)
	}
}

func (h *harness) pod(name string) *corev1.Pod {
	p, err := h.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

func testPod(name, node string, policy corev1.RestartPolicy, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Annotations: ann},
		Spec: corev1.PodSpec{NodeName: node, RestartPolicy: policy,
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
	}
}

func TestRegistration(t *testing.T) {
	h := start(t, 2)
	var node *corev1.Node
	h.eventually("node n-1 registered and ready", 100*time.Millisecond, func() bool {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), "n-1", metav1.GetOptions{})
		node = n
		return err == nil && len(n.Status.Conditions) > 0
	})
	wantCap := map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "2"}
	for r, v := range wantCap {
		if q := node.Status.Capacity[r]; q.Cmp(resource.MustParse(v)) != 0 {
			t.Errorf("capacity %s = %s, want %s", r, q.String(), v)
		}
		if q := node.Status.Allocatable[r]; q.Cmp(resource.MustParse(v)) != 0 {
			t.Errorf("allocatable %s = %s, want %s", r, q.String(), v)
		}
	}
	for k, v := range map[string]string{LabelHostname: "n-1", LabelOS: "linux", LabelZone: "z2"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if node.Labels[LabelArch] == "" {
		t.Error("no arch label")
	}
	if c := node.Status.Conditions[0]; c.Type != corev1.NodeReady || c.Status != corev1.ConditionTrue {
		t.Errorf("first condition %+v, want Ready=True", c)
	}
	if len(node.Status.Addresses) < 2 || node.Status.Addresses[0].Address != "100.64.0.2" {
		t.Errorf("addresses %+v", node.Status.Addresses)
	}
}

func TestLeaseRenewed(t *testing.T) {
	h := start(t, 1)
	var first *coordinationv1.Lease
	h.eventually("lease created", 100*time.Millisecond, func() bool {
		l, err := h.client.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), "n", metav1.GetOptions{})
		first = l
		return err == nil
	})
	if ptr.Deref(first.Spec.HolderIdentity, "") != "n" || ptr.Deref(first.Spec.LeaseDurationSeconds, 0) != 10 {
		t.Errorf("lease spec %+v", first.Spec)
	}
	h.eventually("lease renewed", 500*time.Millisecond, func() bool {
		l, err := h.client.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), "n", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.Sub(first.Spec.RenewTime.Time) >= 2*time.Second
	})
	l, _ := h.client.CoordinationV1().Leases(LeaseNamespace).Get(context.Background(), "n", metav1.GetOptions{})
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" {
		t.Errorf("lease owners %+v, want the node", l.OwnerReferences)
	}
}

func TestPodRuns(t *testing.T) {
	h := start(t, 1, testPod("web", "n", corev1.RestartPolicyAlways, nil))
	h.eventually("pod pending with ContainerCreating", 0, func() bool {
		p := h.pod("web")
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil
	})
	p := h.pod("web")
	if w := p.Status.ContainerStatuses[0].State.Waiting; w.Reason != "ContainerCreating" || p.Status.Phase != corev1.PodPending {
		t.Errorf("before start: phase %s, waiting %+v", p.Status.Phase, w)
	}
	h.eventually("pod running", 100*time.Millisecond, func() bool { return h.pod("web").Status.Phase == corev1.PodRunning })
	p = h.pod("web")
	if !hasTrueCondition(&p.Status, corev1.PodReady) || !hasTrueCondition(&p.Status, corev1.ContainersReady) ||
		!hasTrueCondition(&p.Status, corev1.PodInitialized) || !hasTrueCondition(&p.Status, corev1.PodScheduled) {
		t.Errorf("conditions %+v", p.Status.Conditions)
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || !ptr.Deref(cs.Started, false) || cs.ContainerID == "" {
		t.Errorf("container status %+v", cs)
	}
	if p.Status.PodIP != "10.128.0.2" || len(p.Status.PodIPs) != 1 || p.Status.HostIP != "100.64.0.1" || p.Status.StartTime == nil {
		t.Errorf("ips: pod %q %v host %q start %v", p.Status.PodIP, p.Status.PodIPs, p.Status.HostIP, p.Status.StartTime)
	}
	if p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass lost: %q", p.Status.QOSClass)
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := start(t, 1, testPod("crash", "n", corev1.RestartPolicyAlways, map[string]string{simulated.AnnotationCrashAfter: "2s"}))
	var cs corev1.ContainerStatus
	h.eventually("CrashLoopBackOff", 200*time.Millisecond, func() bool {
		p := h.pod("crash")
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		cs = p.Status.ContainerStatuses[0]
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
	})
	if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 ||
		cs.LastTerminationState.Terminated.Reason != "Error" {
		t.Errorf("in back-off: %+v", cs)
	}
	if p := h.pod("crash"); p.Status.Phase != corev1.PodRunning || hasTrueCondition(&p.Status, corev1.PodReady) {
		t.Errorf("phase %s ready %v, want Running and not ready", p.Status.Phase, hasTrueCondition(&p.Status, corev1.PodReady))
	}
	h.eventually("second restart", 200*time.Millisecond, func() bool {
		return h.pod("crash").Status.ContainerStatuses[0].RestartCount >= 3
	})
}

func TestJobPodSucceeds(t *testing.T) {
	h := start(t, 1, testPod("job", "n", corev1.RestartPolicyNever, nil),
		testPod("fail", "n", corev1.RestartPolicyNever, map[string]string{simulated.AnnotationExitCode: "3"}))
	h.eventually("job pod succeeded", 200*time.Millisecond, func() bool { return h.pod("job").Status.Phase == corev1.PodSucceeded })
	cs := h.pod("job").Status.ContainerStatuses[0]
	if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || cs.State.Terminated.Reason != "Completed" {
		t.Errorf("job container %+v", cs)
	}
	h.eventually("failing pod failed", 200*time.Millisecond, func() bool { return h.pod("fail").Status.Phase == corev1.PodFailed })
	if ex := h.pod("fail").Status.ContainerStatuses[0].State.Terminated; ex == nil || ex.ExitCode != 3 {
		t.Errorf("failing container %+v", ex)
	}
}

func TestDeletionConfirmed(t *testing.T) {
	h := start(t, 1, testPod("gone", "n", corev1.RestartPolicyAlways, nil))
	h.eventually("pod running", 100*time.Millisecond, func() bool { return h.pod("gone").Status.Phase == corev1.PodRunning })
	p := h.pod("gone")
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = ptr.To(metav1.NewTime(h.clock.Now())), ptr.To[int64](30)
	if _, err := h.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("pod deleted", 0, func() bool { return h.pod("gone") == nil })
	var found bool
	for _, act := range h.client.Actions() {
		if d, ok := act.(k8stesting.DeleteAction); ok && d.GetResource().Resource == "pods" {
			found = ptr.Deref(d.GetDeleteOptions().GracePeriodSeconds, -1) == 0
		}
	}
	if !found {
		t.Error("no grace-0 pod delete issued")
	}
	// Before it went, the pod got a terminal phase, as kubelet does, for
	// controllers that wait for a deleted pod's end: Succeeded, as a
	// simulated process exits 0 on SIGTERM.
	var phase corev1.PodPhase
	for _, act := range h.client.Actions() {
		if u, ok := act.(k8stesting.UpdateAction); ok && u.GetSubresource() == "status" {
			if p, ok := u.GetObject().(*corev1.Pod); ok && p.Name == "gone" {
				phase = p.Status.Phase
			}
		}
	}
	if phase != corev1.PodSucceeded {
		t.Errorf("last status written before deletion: phase %q, want Succeeded", phase)
	}
	h.eventually("runtime forgot the pod", 0, func() bool {
		st, _ := h.agent.nodes["n"].rt.PodStatus(context.Background(), "uid-gone")
		return st == nil
	})
}

func TestOrphanStopped(t *testing.T) {
	h := start(t, 1)
	rt := h.agent.nodes["n"].rt
	orphan := testPod("orphan", "n", corev1.RestartPolicyAlways, nil)
	if err := rt.RunPodSandbox(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	// The API never had it: its (synthetic) delete event is enough.
	h.agent.enqueuePod(orphan)
	h.eventually("orphan removed", 0, func() bool {
		st, _ := rt.PodStatus(context.Background(), orphan.UID)
		return st == nil
	})
}

// TestLateRenewalPostsStatus: after renewals failed for longer than two
// renew intervals, the first one that succeeds is followed by a node
// status heartbeat at once, not a status interval (1 minute) later: the
// node lifecycle controller may have set Ready=Unknown meanwhile.
func TestLateRenewalPostsStatus(t *testing.T) {
	var mu sync.Mutex
	failing, statusPosts := false, 0
	h := startWith(t, 1, func(o *Options) {
		c := o.Client.(*fake.Clientset)
		c.PrependReactor("update", "leases", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			if failing {
				return true, nil, errors.New("server busy")
			}
			return false, nil, nil
		})
		c.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
			if a.GetSubresource() == "status" {
				mu.Lock()
				statusPosts++
				mu.Unlock()
			}
			return false, nil, nil
		})
	})
	posts := func() int { mu.Lock(); defer mu.Unlock(); return statusPosts }
	// Past the first minute, when a node without a pod CIDR posts its
	// status every second; then right after a regular status post, so the
	// next regular one is at least 54 s away.
	start := h.clock.Now()
	h.eventually("the first minute", 500*time.Millisecond, func() bool { return h.clock.Since(start) > 65*time.Second })
	before := posts()
	h.eventually("a regular status post", 500*time.Millisecond, func() bool { return posts() > before })
	posted, before := h.clock.Now(), posts()

	mu.Lock()
	failing = true
	mu.Unlock()
	h.eventually("renewals failing for 8 s", 500*time.Millisecond, func() bool { return h.clock.Since(posted) > 8*time.Second })
	mu.Lock()
	failing = false
	mu.Unlock()
	h.eventually("a status post after the late renewal", 100*time.Millisecond, func() bool { return posts() > before })
	if since := h.clock.Since(posted); since > 20*time.Second {
		t.Errorf("the next status post came %s after the last: the regular interval, not the late renewal", since)
	}
}

// TestStatusWritesOutrunLaggingInformer: the informer never sees the
// agent's own status writes here (the reactor keeps them from the fake's
// store), as when its watch lags seconds behind under load. The server
// side refuses a write whose resourceVersion is not the latest, as the
// API server does; the second write (Running after ContainerCreating)
// must carry the version the first one returned.
func TestStatusWritesOutrunLaggingInformer(t *testing.T) {
	var mu sync.Mutex
	version, conflicts := 1, 0
	var last corev1.PodStatus
	pod := testPod("web", "n", corev1.RestartPolicyAlways, nil)
	pod.ResourceVersion = "1"
	startWith(t, 1, func(o *Options) {
		o.Client.(*fake.Clientset).PrependReactor("update", "pods", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
			if a.GetSubresource() != "status" {
				return false, nil, nil
			}
			p := a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod).DeepCopy()
			mu.Lock()
			defer mu.Unlock()
			if p.ResourceVersion != strconv.Itoa(version) {
				conflicts++
				return true, nil, apierrors.NewConflict(corev1.Resource("pods"), p.Name, errors.New("the object has been modified"))
			}
			version++
			p.ResourceVersion, last = strconv.Itoa(version), p.Status
			return true, p, nil
		})
	}, pod).eventually("pod running", 100*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return last.Phase == corev1.PodRunning
	})
	mu.Lock()
	defer mu.Unlock()
	if conflicts > 0 {
		t.Errorf("%d status writes refused for a stale resourceVersion", conflicts)
	}
}
