package nodelifecycle

import (
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	core "k8s.io/client-go/testing"
)

// setConditions writes the agent's view of n's pressure into the fake
// API and the cache, as a status heartbeat would, and delivers the event.
func (f *fixture) setConditions(name string, status map[corev1.NodeConditionType]corev1.ConditionStatus) {
	f.t.Helper()
	n := f.node(name)
	for typ, st := range status {
		found := false
		for i := range n.Status.Conditions {
			if c := &n.Status.Conditions[i]; c.Type == typ {
				c.Status, found = st, true
			}
		}
		if !found {
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: st})
		}
	}
	n, err := f.client.CoreV1().Nodes().UpdateStatus(f.ctx, n, metav1.UpdateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Update(n)
	f.c.nodeChanged(n)
}

// drain works off the node queue only (no monitor pass) and returns the
// node updates it made.
func (f *fixture) drain() []*corev1.Node {
	f.t.Helper()
	f.client.ClearActions()
	for f.c.nodeQueue.Len() > 0 {
		k, _ := f.c.nodeQueue.Get()
		if err := f.c.syncNode(f.ctx, k); err != nil {
			f.t.Fatal(err)
		}
		f.c.nodeQueue.Done(k)
	}
	var out []*corev1.Node
	for _, a := range f.client.Actions() {
		if u, ok := a.(core.UpdateAction); ok && a.GetResource().Resource == "nodes" && a.GetSubresource() == "" {
			n := u.GetObject().(*corev1.Node)
			out = append(out, n)
			_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Update(n)
		}
	}
	return out
}

func TestPressureTaints(t *testing.T) {
	const (
		mem  = "node.kubernetes.io/memory-pressure:NoSchedule"
		disk = "node.kubernetes.io/disk-pressure:NoSchedule"
		pid  = "node.kubernetes.io/pid-pressure:NoSchedule"
	)
	user := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	// A pressure key with another effect is someone else's.
	foreign := corev1.Taint{Key: corev1.TaintNodeDiskPressure, Effect: corev1.TaintEffectNoExecute}
	objs := cluster("n", "", 2)
	objs[0].(*corev1.Node).Spec.Taints = []corev1.Taint{user, foreign}
	f := newFixture(t, DefaultOptions(), objs...)
	// Not judged by the monitor yet: pressure is handled all the same.

	for _, step := range []struct {
		name   string
		status map[corev1.NodeConditionType]corev1.ConditionStatus
		want   []string // n0's taints after the sync; nil: no write
	}{
		{"memory and disk pressure taint", map[corev1.NodeConditionType]corev1.ConditionStatus{
			corev1.NodeMemoryPressure: corev1.ConditionTrue, corev1.NodeDiskPressure: corev1.ConditionTrue},
			[]string{"dedicated:NoSchedule", disk, "node.kubernetes.io/disk-pressure:NoExecute", mem}},
		{"heartbeat with the same pressure writes nothing", map[corev1.NodeConditionType]corev1.ConditionStatus{
			corev1.NodeMemoryPressure: corev1.ConditionTrue}, nil},
		{"memory clears, pid comes", map[corev1.NodeConditionType]corev1.ConditionStatus{
			corev1.NodeMemoryPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionTrue},
			[]string{"dedicated:NoSchedule", disk, "node.kubernetes.io/disk-pressure:NoExecute", pid}},
		{"unknown is no pressure", map[corev1.NodeConditionType]corev1.ConditionStatus{
			corev1.NodeDiskPressure: corev1.ConditionUnknown, corev1.NodePIDPressure: corev1.ConditionFalse},
			[]string{"dedicated:NoSchedule", "node.kubernetes.io/disk-pressure:NoExecute"}},
	} {
		f.setConditions("n0", step.status)
		got := f.drain()
		switch {
		case step.want == nil && len(got) != 0:
			t.Fatalf("%s: wrote %v", step.name, taintsOf(got[0]))
		case step.want != nil && len(got) != 1:
			t.Fatalf("%s: %d node updates, want 1", step.name, len(got))
		case step.want != nil && !equal(taintsOf(got[0]), sorted(step.want)):
			t.Fatalf("%s: taints %v, want %v", step.name, taintsOf(got[0]), sorted(step.want))
		}
	}
	for _, tn := range f.node("n0").Spec.Taints {
		if isPressureTaint(tn) && (tn.TimeAdded == nil || !tn.TimeAdded.Time.Equal(t0)) {
			t.Errorf("taint %s added at %v, want the controller's clock", tn.Key, tn.TimeAdded)
		}
	}
	if got := taintsOf(f.node("n1")); len(got) != 0 {
		t.Errorf("n1 untouched, has %v", got)
	}
}

// TestPressureTaintsWithHealth: the monitor pass keeps the pressure taints
// in step too, alongside not-ready, and a node that goes unreachable loses
// them with its conditions turned Unknown (as upstream).
func TestPressureTaintsWithHealth(t *testing.T) {
	objs := cluster("n", "", 3)
	n0 := objs[0].(*corev1.Node)
	n0.Status.Conditions[0].Status = corev1.ConditionFalse // not ready
	n0.Status.Conditions[1].Status = corev1.ConditionTrue  // memory pressure
	f := newFixture(t, DefaultOptions(), objs...)
	f.pass()
	f.step(time.Second, "n0", "n1", "n2")
	want := append([]string{"node.kubernetes.io/memory-pressure:NoSchedule"}, notReadyTaints...)
	if got := taintsOf(f.node("n0")); !equal(got, sorted(want)) {
		t.Fatalf("taints %v, want %v", got, sorted(want))
	}
	for i := 0; i < 6; i++ {
		f.step(time.Second, "n1", "n2")
	}
	n := f.node("n0")
	if got := taintsOf(n); !equal(got, unreachableTaints) {
		t.Fatalf("unreachable: taints %v, want %v", got, unreachableTaints)
	}
	if c := n.Status.Conditions[1]; c.Type != corev1.NodeMemoryPressure || c.Status != corev1.ConditionUnknown {
		t.Fatalf("condition %s=%s, want MemoryPressure=Unknown", c.Type, c.Status)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
