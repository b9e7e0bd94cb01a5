package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCacheAssumeConfirmForget(t *testing.T) {
	c := NewCache()
	c.AddNode(makeNode("n1"))
	snap := newSnapshot(nil)
	c.UpdateSnapshot(snap)

	p := NewPodInfo(makePod("p", requests("cpu", "3")))
	if err := c.AssumePod(p, "n1"); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	// The next decision sees the assumed pod's cpu.
	if d := DefaultProfile().Schedule(NewPodInfo(makePod("q", requests("cpu", "2"))), snap, 0); d.Scheduled() {
		t.Fatalf("second pod fit on %s although the first is assumed there", d.Node)
	}
	if err := c.AssumePod(p, "n1"); err == nil {
		t.Error("assuming twice should fail")
	}
	// A failed binding gives the room back.
	c.ForgetPod(p)
	c.UpdateSnapshot(snap)
	if got := snap.Get("n1").Requested.MilliCPU; got != 0 {
		t.Errorf("requested %dm after forget", got)
	}
	// Confirmation by the informer replaces the assumed pod, once.
	_ = c.AssumePod(p, "n1")
	c.FinishBinding(p)
	bound := p.Pod.DeepCopy()
	bound.Spec.NodeName = "n1"
	c.AddPod(bound)
	if c.IsAssumed(p.Key) {
		t.Error("still assumed after confirmation")
	}
	c.ForgetPod(p) // no-op for confirmed pods
	c.UpdateSnapshot(snap)
	if got := snap.Get("n1").Requested.MilliCPU; got != 3000 {
		t.Errorf("requested %dm, want 3000m", got)
	}
	// Terminal pods free their resources.
	done := bound.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	c.UpdatePod(done)
	c.UpdateSnapshot(snap)
	if got := len(snap.Get("n1").Pods); got != 0 {
		t.Errorf("%d pods after the pod succeeded", got)
	}
}

func TestCacheSnapshotIsIncremental(t *testing.T) {
	c := NewCache()
	for _, n := range []string{"n1", "n2", "n3"} {
		c.AddNode(makeNode(n))
	}
	snap := newSnapshot(nil)
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 3 {
		t.Fatalf("%d nodes", len(snap.Nodes))
	}
	before := append([]*NodeInfo(nil), snap.Nodes...)
	c.AddPod(makePod("a", onNode("n2"), podAntiAffinity(podTerm(hostname, appKey, appWeb))))
	c.UpdateSnapshot(snap)
	if snap.Nodes[0] != before[0] || snap.Nodes[2] != before[2] {
		t.Error("unchanged nodes were copied")
	}
	if snap.Nodes[1] == before[1] || len(snap.Nodes[1].Pods) != 1 {
		t.Error("changed node not updated")
	}
	if len(before[1].Pods) != 0 {
		t.Error("the previous snapshot's node was mutated")
	}
	if len(snap.withRequiredAntiAffinity) != 1 {
		t.Error("affinity index not updated")
	}
	// Removing a node with pods keeps the pods accounted but hides the node.
	c.RemoveNode("n2")
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 2 || snap.Get("n2") != nil || len(snap.withRequiredAntiAffinity) != 0 {
		t.Errorf("after node removal: %d nodes", len(snap.Nodes))
	}
	c.AddNode(makeNode("n2"))
	c.UpdateSnapshot(snap)
	if ni := snap.Get("n2"); ni == nil || len(ni.Pods) != 1 {
		t.Error("node re-added without its pods")
	}
	// A pod bound to a node not yet known appears with it.
	c.AddPod(makePod("b", onNode("n4")))
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 3 {
		t.Errorf("%d nodes before n4 is known", len(snap.Nodes))
	}
	c.AddNode(makeNode("n4"))
	c.UpdateSnapshot(snap)
	if ni := snap.Get("n4"); ni == nil || len(ni.Pods) != 1 {
		t.Error("n4 without its pod")
	}
	c.SetNamespace("default", map[string]string{"team": "a"}, false)
	c.UpdateSnapshot(snap)
	if snap.NamespaceLabels["default"]["team"] != "a" {
		t.Error("namespace labels missing")
	}
}

func TestCacheNominations(t *testing.T) {
	c := NewCache()
	c.AddNode(makeNode("n1"))
	snap := newSnapshot(nil)
	nominee := NewPodInfo(makePod("nominee", requests("cpu", "3"), priority(100)))
	c.Nominate(nominee, "n1")
	c.UpdateSnapshot(snap)
	low := NewPodInfo(makePod("low", requests("cpu", "2")))
	if d := DefaultProfile().Schedule(low, snap, 0); d.Scheduled() {
		t.Fatalf("fit on %s beside a 3-cpu nominee", d.Node)
	}
	// Once the nominee is assumed (or bound) it counts as a pod, not twice.
	if err := c.AssumePod(nominee, "n1"); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	if n := len(snap.nominated["n1"]); n != 0 {
		t.Errorf("%d nominations left after the nominee was assumed", n)
	}
	c.ForgetPod(nominee)
	c.Nominate(nominee, "n1")
	c.ClearNomination(nominee.Key)
	c.UpdateSnapshot(snap)
	if d := DefaultProfile().Schedule(low, snap, 0); d.Node != "n1" {
		t.Errorf("nomination cleared, yet %q: %s", d.Node, d.Message())
	}
}
