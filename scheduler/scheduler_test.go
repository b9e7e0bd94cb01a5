package scheduler

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"
)

// gated holds bindings until the gate closes. It wraps the client rather
// than blocking in a reactor, which would hold the fake's lock.
type gated struct {
	kubernetes.Interface
	gate <-chan struct{}
}
type gatedCore struct {
	typedcorev1.CoreV1Interface
	gate <-chan struct{}
}
type gatedPods struct {
	typedcorev1.PodInterface
	gate <-chan struct{}
}

func (g gated) CoreV1() typedcorev1.CoreV1Interface { return gatedCore{g.Interface.CoreV1(), g.gate} }
func (g gatedCore) Pods(ns string) typedcorev1.PodInterface {
	return gatedPods{g.CoreV1Interface.Pods(ns), g.gate}
}
func (g gatedPods) Bind(ctx context.Context, b *corev1.Binding, opts metav1.CreateOptions) error {
	<-g.gate
	return g.PodInterface.Bind(ctx, b, opts)
}

// fakeCluster is a fake clientset whose pods/binding behaves like the API
// server's: it sets spec.nodeName, which the informers then report.
type fakeCluster struct {
	*fake.Clientset
	mu    sync.Mutex
	binds map[string]string // pod → node
	gate  chan struct{}     // when set, bindings wait until it is closed
	once  sync.Once
}

func (fc *fakeCluster) release() {
	if fc.gate != nil {
		fc.once.Do(func() { close(fc.gate) })
	}
}

func newFakeCluster(objs ...runtime.Object) *fakeCluster {
	fc := &fakeCluster{Clientset: fake.NewClientset(objs...), binds: map[string]string{}}
	fc.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
		obj, err := fc.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		pod.Spec.NodeName = b.Target.Name
		if err := fc.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), pod, b.Namespace); err != nil {
			return true, nil, err
		}
		fc.mu.Lock()
		fc.binds[b.Name] = b.Target.Name
		fc.mu.Unlock()
		return true, nil, nil
	})
	return fc
}

func (fc *fakeCluster) boundTo(name string) string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.binds[name]
}

func startScheduler(t *testing.T, fc *fakeCluster) (*Scheduler, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(fc, 0)
	var client kubernetes.Interface = fc
	if fc.gate != nil {
		client = gated{fc, fc.gate}
	}
	s := New(client, factory, Options{})
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		fc.release() // held bindings must return for Run to finish
		cancel()
		<-done
		factory.Shutdown()
	})
	return s, cancel
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoopBindsAndReportsFailures(t *testing.T) {
	fc := newFakeCluster(
		makeNode("n1"),
		makePod("fits", requests("cpu", "1")),
		makePod("huge", requests("cpu", "100")),
		func() *corev1.Pod {
			p := makePod("other", requests("cpu", "1"))
			p.Spec.SchedulerName = "custom"
			return p
		}(),
	)
	startScheduler(t, fc)

	eventually(t, "binding of fits", func() bool { return fc.boundTo("fits") == "n1" })
	var sawBinding bool
	for _, a := range fc.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" && a.GetSubresource() == "binding" {
			b := a.(k8stesting.CreateAction).GetObject().(*corev1.Binding)
			sawBinding = sawBinding || (b.Name == "fits" && b.Target.Kind == "Node" && b.Target.Name == "n1")
		}
	}
	if !sawBinding {
		t.Error("no pods/binding action for fits → n1")
	}

	wantMsg := "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	eventually(t, "FailedScheduling event", func() bool {
		evs, _ := fc.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.InvolvedObject.Name == "huge" && e.Type == corev1.EventTypeWarning && e.Message == wantMsg {
				return true
			}
		}
		return false
	})
	eventually(t, "PodScheduled=False", func() bool {
		p, err := fc.CoreV1().Pods("default").Get(context.Background(), "huge", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == wantMsg {
				return true
			}
		}
		return false
	})
	if fc.boundTo("other") != "" {
		t.Error("a pod of another scheduler was bound")
	}
}

func TestLoopAssumedPodsPreventOvercommit(t *testing.T) {
	// Bindings are held: the second decision must already count the first
	// pod, or both would be sent to n1.
	fc := newFakeCluster(makeNode("n1"), makeNode("n2"),
		makePod("a", requests("cpu", "3")), makePod("b", requests("cpu", "3")), makePod("c", requests("cpu", "3")))
	fc.gate = make(chan struct{})
	s, _ := startScheduler(t, fc)
	// Two bindings held in flight, the third pod rejected at least once.
	eventually(t, "two bindings in flight and c rejected", func() bool {
		_, b, u := s.Queue.Counts()
		return len(s.apiSlots) == 2 && b+u == 1
	})
	fc.release()
	eventually(t, "two bindings", func() bool { return fc.boundTo("a") != "" && fc.boundTo("b") != "" })
	if fc.boundTo("a") == fc.boundTo("b") {
		t.Errorf("a and b both on %s", fc.boundTo("a"))
	}
	if fc.boundTo("c") != "" {
		t.Error("c was bound although nothing had room")
	}
	// Deleting a bound pod frees room and wakes c.
	if err := fc.CoreV1().Pods("default").Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "c bound after a's deletion", func() bool { return fc.boundTo("c") != "" })
}

func TestLoopPreempts(t *testing.T) {
	fc := newFakeCluster(makeNode("n1"),
		makePod("victim", requests("cpu", "4"), priority(1), onNode("n1")),
		makePod("vip", requests("cpu", "2"), priority(1000)))
	startScheduler(t, fc)
	// The victim is deleted, the preemptor nominated, then bound.
	eventually(t, "vip bound", func() bool { return fc.boundTo("vip") == "n1" })
	if _, err := fc.CoreV1().Pods("default").Get(context.Background(), "victim", metav1.GetOptions{}); err == nil {
		t.Error("victim still exists")
	}
	var nominated, marked bool
	for _, a := range fc.Actions() {
		if pa, ok := a.(k8stesting.PatchAction); ok && pa.GetSubresource() == "status" {
			patch := string(pa.GetPatch())
			nominated = nominated || (pa.GetName() == "vip" && strings.Contains(patch, `"nominatedNodeName":"n1"`))
			marked = marked || (pa.GetName() == "victim" && strings.Contains(patch, `"reason":"PreemptionByScheduler"`))
		}
	}
	if !nominated {
		t.Error("no status patch with nominatedNodeName")
	}
	if !marked {
		t.Error("the victim got no DisruptionTarget condition before its deletion")
	}
}

func TestLoopWaitsForSchedulingGates(t *testing.T) {
	pod := makePod("gated", requests("cpu", "1"))
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}, {Name: "example.com/check"}}
	fc := newFakeCluster(makeNode("n1"), pod)
	startScheduler(t, fc)
	ctx := context.Background()

	eventually(t, "PodScheduled=False SchedulingGated", func() bool {
		p, err := fc.CoreV1().Pods("default").Get(ctx, "gated", metav1.GetOptions{})
		return err == nil && scheduledReason(p) == corev1.PodReasonSchedulingGated
	})
	// Removing one gate of two changes nothing.
	p, _ := fc.CoreV1().Pods("default").Get(ctx, "gated", metav1.GetOptions{})
	p.Spec.SchedulingGates = p.Spec.SchedulingGates[:1]
	if _, err := fc.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := fc.boundTo("gated"); n != "" {
		t.Fatalf("bound to %s with a gate left", n)
	}
	// Removing the last one schedules it at once, without a FailedScheduling event.
	p, _ = fc.CoreV1().Pods("default").Get(ctx, "gated", metav1.GetOptions{})
	p.Spec.SchedulingGates = nil
	if _, err := fc.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "binding once the gates are gone", func() bool { return fc.boundTo("gated") == "n1" })
	evs, _ := fc.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	for _, e := range evs.Items {
		if e.Reason == "FailedScheduling" {
			t.Errorf("a gated pod got FailedScheduling: %s", e.Message)
		}
	}
}

func scheduledReason(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.Reason
		}
	}
	return ""
}
