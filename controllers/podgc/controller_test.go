package podgc

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	inf    informers.SharedInformerFactory
	c      *Controller
}

// newFixture fills the caches with cached; the API server holds live
// (cached objects too unless live is given).
func newFixture(t *testing.T, opts Options, cached []runtime.Object, live ...runtime.Object) *fixture {
	if live == nil {
		live = cached
	}
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(t0), client: fake.NewClientset(live...)}
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	f.c = NewController(f.client, f.inf.Core().V1().Pods(), f.inf.Core().V1().Nodes(), opts, f.clock)
	f.c.synced = func() bool { return true }
	f.c.workers = 4
	for _, o := range cached {
		switch x := o.(type) {
		case *corev1.Node:
			_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Add(x)
		case *corev1.Pod:
			_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(x)
		}
	}
	return f
}

// gc runs a pass and returns the deleted pods, checking grace 0.
func (f *fixture) gc() []string {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.gc(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "pods" {
			if g := d.GetDeleteOptions().GracePeriodSeconds; g == nil || *g != 0 {
				f.t.Fatalf("delete of %s without grace 0", d.GetName())
			}
			out = append(out, d.GetName())
			obj, _, _ := f.inf.Core().V1().Pods().Informer().GetIndexer().GetByKey("default/" + d.GetName())
			if obj != nil {
				_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(obj)
			}
		}
	}
	sort.Strings(out)
	return out
}

func node(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func pod(name, nodeName string, phase corev1.PodPhase, created time.Time) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(created)}, Spec: corev1.PodSpec{NodeName: nodeName}, Status: corev1.PodStatus{Phase: phase}}
}

func terminating(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	return p
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOrphansAfterQuarantineAndLiveGet(t *testing.T) {
	objs := []runtime.Object{node("alive"), pod("ok", "alive", corev1.PodRunning, t0),
		pod("orphan", "gone", corev1.PodRunning, t0), terminating(pod("orphan-terminating", "gone", corev1.PodRunning, t0))}
	f := newFixture(t, DefaultOptions(), objs)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("deleted at once: %v", got)
	}
	f.clock.Step(19 * time.Second)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("deleted within quarantine: %v", got)
	}
	f.clock.Step(time.Second)
	got := f.gc()
	if !same(got, []string{"orphan", "orphan-terminating"}) {
		t.Fatalf("deleted %v", got)
	}
	gets := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "nodes" {
			gets++
		}
	}
	if gets != 1 {
		t.Fatalf("%d live GETs of the node, want 1", gets)
	}
	// Marked Failed and disrupted before the delete, as upstream's pod GC.
	patched := map[string]string{}
	for _, a := range f.client.Actions() {
		if p, ok := a.(core.PatchAction); ok && p.GetSubresource() == "status" {
			patched[p.GetName()] = string(p.GetPatch())
		}
	}
	for _, name := range []string{"orphan", "orphan-terminating"} {
		if p := patched[name]; !strings.Contains(p, `"phase":"Failed"`) || !strings.Contains(p, `"reason":"DeletionByPodGC"`) {
			t.Errorf("status patch of %s: %q", name, p)
		}
	}
}

func TestOrphanOfNodeTheCacheMisses(t *testing.T) {
	p := pod("p", "lagging", corev1.PodRunning, t0)
	f := newFixture(t, DefaultOptions(), []runtime.Object{p}, p, node("lagging"))
	f.gc()
	f.clock.Step(time.Minute)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("deleted pods of a node the server has: %v", got)
	}
}

func TestNodeBackWithinQuarantine(t *testing.T) {
	p := pod("p", "flaky", corev1.PodRunning, t0)
	f := newFixture(t, DefaultOptions(), []runtime.Object{p})
	f.gc()
	f.clock.Step(10 * time.Second)
	_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Add(node("flaky")) // re-registered
	f.gc()
	if len(f.c.missingSince) != 0 {
		t.Fatalf("quarantine kept: %v", f.c.missingSince)
	}
	_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Delete(node("flaky")) // gone again: a new quarantine
	f.clock.Step(15 * time.Second)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("deleted %v", got)
	}
}

func TestTerminatedAboveThresholdOldestFirst(t *testing.T) {
	objs := []runtime.Object{node("n"),
		pod("new-ok", "n", corev1.PodSucceeded, t0.Add(4*time.Minute)),
		pod("oldest", "n", corev1.PodFailed, t0),
		pod("running", "n", corev1.PodRunning, t0.Add(-time.Hour)),
		pod("old", "n", corev1.PodSucceeded, t0.Add(time.Minute)),
		pod("newer", "n", corev1.PodSucceeded, t0.Add(2*time.Minute))}
	f := newFixture(t, Options{TerminatedPodThreshold: 2}, objs)
	if got := f.gc(); !same(got, []string{"old", "oldest"}) {
		t.Fatalf("deleted %v", got)
	}
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("second pass deleted %v", got)
	}
	f = newFixture(t, Options{TerminatedPodThreshold: -1}, objs)
	if got := f.gc(); len(got) != 0 {
		t.Fatalf("disabled threshold deleted %v", got)
	}
}

func TestTerminatingWithoutAgent(t *testing.T) {
	oos := node("oos")
	oos.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeOutOfService, Effect: corev1.TaintEffectNoExecute}}
	oos.Status.Conditions[0].Status = corev1.ConditionUnknown
	objs := []runtime.Object{node("n"), oos,
		terminating(pod("unscheduled", "", corev1.PodPending, t0)),
		terminating(pod("on-live-node", "n", corev1.PodRunning, t0)),
		terminating(pod("on-out-of-service", "oos", corev1.PodRunning, t0)),
		pod("running-on-out-of-service", "oos", corev1.PodRunning, t0)}
	f := newFixture(t, DefaultOptions(), objs)
	if got := f.gc(); !same(got, []string{"on-out-of-service", "unscheduled"}) {
		t.Fatalf("deleted %v", got)
	}
}
