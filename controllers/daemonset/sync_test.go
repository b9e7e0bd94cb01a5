package daemonset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	core "k8s.io/client-go/testing"

	"corral/controllers/history"
)

// One pod per eligible node: the selector, taints and the default
// tolerations decide; pods are pinned by matchFields and the template is
// recorded as revision 1.
func TestCreatesOnePodPerEligibleNode(t *testing.T) {
	f := newFixture(t)
	f.ds = []*appsv1.DaemonSet{newDS("nginx")}
	cordoned := newNode("cordoned", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule))
	cordoned.Spec.Unschedulable = true
	f.nodes = []*corev1.Node{
		newNode("plain"),
		cordoned,
		newNode("notready", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)),
		newNode("dedicated", taint("dedicated", corev1.TaintEffectNoSchedule)),
		newNode("other", unlabelled),
	}
	f.start()
	f.sync()
	f.expectActions("create controllerrevisions", "create pods", "create pods", "create pods", "update daemonsets/status")
	want := revisionOf(t, f.ds[0], 1)
	nodes := map[string]bool{}
	for _, p := range f.created() {
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" {
			t.Fatalf("pod not pinned by matchFields: %+v", terms)
		}
		nodes[terms[0].MatchFields[0].Values[0]] = true
		if p.Spec.NodeName != "" {
			t.Errorf("pod bound by the controller to %q; the scheduler binds", p.Spec.NodeName)
		}
		if got := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; got != want.Labels[history.HashLabel] {
			t.Errorf("hash label %q, want %q", got, want.Labels[history.HashLabel])
		}
		if len(p.Spec.Tolerations) != len(defaultTolerations) {
			t.Errorf("tolerations %v, want the %d defaults", p.Spec.Tolerations, len(defaultTolerations))
		}
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != "uid-ds" {
			t.Errorf("controller ref %v", ref)
		}
	}
	if !nodes["plain"] || !nodes["cordoned"] || !nodes["notready"] || len(nodes) != 3 {
		t.Errorf("pods for nodes %v, want plain, cordoned, notready", nodes)
	}
	st := f.status()
	if st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 0 || st.ObservedGeneration != 1 || st.NumberUnavailable != 3 {
		t.Errorf("status %+v", st)
	}
	// The creates are not in the cache yet: a second sync must wait.
	f.sync()
	if len(f.created()) != 0 {
		t.Errorf("created again before the informer saw the first pods")
	}
}

// A NoExecute taint the pod does not tolerate removes it; a NoSchedule
// one only stops new pods; a node that lost its label loses its pod.
func TestDeletesPodsFromNodesThatNoLongerFit(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx")
	f.ds = []*appsv1.DaemonSet{ds}
	rev := revisionOf(t, ds, 1)
	hash := rev.Labels[history.HashLabel]
	f.revs = []*appsv1.ControllerRevision{rev}
	f.nodes = []*corev1.Node{
		newNode("ok"),
		newNode("noexec", taint("evict", corev1.TaintEffectNoExecute)),
		newNode("nosched", taint("keepout", corev1.TaintEffectNoSchedule)),
		newNode("relabelled", unlabelled),
	}
	f.pods = []*corev1.Pod{
		newPod("p-ok", "ok", hash, ready), newPod("p-noexec", "noexec", hash, ready),
		newPod("p-nosched", "nosched", hash, ready), newPod("p-relabelled", "relabelled", hash, ready),
	}
	f.start()
	f.sync()
	if got := f.deleted(); len(got) != 2 || got[0] != "p-noexec" || got[1] != "p-relabelled" {
		t.Fatalf("deleted %v, want p-noexec and p-relabelled", got)
	}
	if len(f.created()) != 0 {
		t.Errorf("created %d pods", len(f.created()))
	}
	st := f.status()
	// The pod on the NoSchedule node stays but the node is not desired.
	if st.DesiredNumberScheduled != 1 || st.NumberMisscheduled != 3 || st.NumberReady != 1 || st.UpdatedNumberScheduled != 1 {
		t.Errorf("status %+v", st)
	}
}

// Extra pods on a node go, the oldest stays.
func TestKeepsOldestOfDuplicatePods(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx")
	f.ds = []*appsv1.DaemonSet{ds}
	rev := revisionOf(t, ds, 1)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.nodes = []*corev1.Node{newNode("n")}
	older := newPod("older", "n", rev.Labels[history.HashLabel], ready)
	newer := newPod("newer", "n", rev.Labels[history.HashLabel], ready)
	newer.CreationTimestamp = metav1.NewTime(t0)
	f.pods = []*corev1.Pod{older, newer}
	f.start()
	f.sync()
	if got := f.deleted(); len(got) != 1 || got[0] != "newer" {
		t.Fatalf("deleted %v, want newer", got)
	}
}

// A failed pod is replaced, but not again before the node's backoff ends.
func TestFailedPodsBackOff(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx")
	f.ds = []*appsv1.DaemonSet{ds}
	rev := revisionOf(t, ds, 1)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.nodes = []*corev1.Node{newNode("n")}
	f.pods = []*corev1.Pod{newPod("crashy", "n", rev.Labels[history.HashLabel], failed)}
	f.start()
	f.sync()
	if got := f.deleted(); len(got) != 1 || got[0] != "crashy" {
		t.Fatalf("deleted %v, want crashy", got)
	}
	// Its replacement fails too (same name in this cache, deletion seen).
	f.ctrl.expectations.Delete("default/ds")
	after := f.sync()
	if len(f.deleted()) != 0 || after <= 0 {
		t.Fatalf("within the backoff: deleted %v, requeue after %v", f.deleted(), after)
	}
	f.clock.Step(after + time.Millisecond)
	f.sync()
	if len(f.deleted()) != 1 {
		t.Fatalf("after the backoff: deleted %v", f.deleted())
	}
}

// A template change creates revision 2; with maxUnavailable 1 and every
// old pod available, exactly one old pod is deleted per step, and none
// while a node is still without its new pod.
func TestRollingUpdateMaxUnavailable(t *testing.T) {
	f := newFixture(t)
	oldDS := newDS("nginx:1")
	ds := newDS("nginx:2")
	ds.Generation = 2
	f.ds = []*appsv1.DaemonSet{ds}
	oldRev := revisionOf(t, oldDS, 1)
	f.revs = []*appsv1.ControllerRevision{oldRev}
	oldHash := oldRev.Labels[history.HashLabel]
	f.nodes = []*corev1.Node{newNode("a"), newNode("b"), newNode("c")}
	f.pods = []*corev1.Pod{newPod("pa", "a", oldHash, ready), newPod("pb", "b", oldHash, ready), newPod("pc", "c", oldHash, ready)}
	f.start()
	f.sync()
	f.expectActions("create controllerrevisions", "delete pods", "update daemonsets/status")
	if got := f.deleted(); len(got) != 1 || got[0] != "pa" {
		t.Fatalf("deleted %v, want pa (first by node name)", got)
	}
	var revNumber int64
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" {
			revNumber = a.(core.CreateAction).GetObject().(*appsv1.ControllerRevision).Revision
		}
	}
	if revNumber != 2 {
		t.Errorf("new revision numbered %d, want 2", revNumber)
	}
	st := f.status()
	if st.UpdatedNumberScheduled != 0 || st.NumberAvailable != 3 || st.ObservedGeneration != 2 {
		t.Errorf("status %+v", st)
	}
}

// Node a has no pod yet (its old one was deleted): it counts as
// unavailable, so no further old pod may go.
func TestRollingUpdateWaitsForReplacement(t *testing.T) {
	f := newFixture(t)
	oldRev := revisionOf(t, newDS("nginx:1"), 1)
	ds := newDS("nginx:2")
	newRev := revisionOf(t, ds, 2)
	f.ds = []*appsv1.DaemonSet{ds}
	f.revs = []*appsv1.ControllerRevision{oldRev, newRev}
	oldHash, newHash := oldRev.Labels[history.HashLabel], newRev.Labels[history.HashLabel]
	f.nodes = []*corev1.Node{newNode("a"), newNode("b"), newNode("c")}
	// a: new pod not ready yet; b, c: old and available.
	f.pods = []*corev1.Pod{newPod("pa2", "a", newHash), newPod("pb", "b", oldHash, ready), newPod("pc", "c", oldHash, ready)}
	f.start()
	f.sync()
	f.expectActions("update daemonsets/status")
	// Once the new pod is available the next old one goes.
	ready(f.pods[0])
	f.start()
	f.sync()
	if got := f.deleted(); len(got) != 1 || got[0] != "pb" {
		t.Fatalf("deleted %v, want pb", got)
	}
	if st := f.status(); st.UpdatedNumberScheduled != 1 || st.NumberAvailable != 3 {
		t.Errorf("status %+v", st)
	}
}

// With maxSurge 1 the new pod starts next to the old one, and the old one
// is deleted once the new one is available.
func TestRollingUpdateSurge(t *testing.T) {
	f := newFixture(t)
	oldRev := revisionOf(t, newDS("nginx:1"), 1)
	ds := newDS("nginx:2")
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromInt32(1))}
	newRev := revisionOf(t, ds, 2)
	f.ds = []*appsv1.DaemonSet{ds}
	f.revs = []*appsv1.ControllerRevision{oldRev, newRev}
	oldHash, newHash := oldRev.Labels[history.HashLabel], newRev.Labels[history.HashLabel]
	f.nodes = []*corev1.Node{newNode("a"), newNode("b")}
	f.pods = []*corev1.Pod{newPod("pa", "a", oldHash, ready), newPod("pb", "b", oldHash, ready)}
	f.start()
	f.sync()
	if len(f.deleted()) != 0 || len(f.created()) != 1 {
		t.Fatalf("deleted %v, created %d; want one surge pod and no delete", f.deleted(), len(f.created()))
	}
	if n := targetNode(f.created()[0]); n != "a" {
		t.Errorf("surge pod for %q, want a", n)
	}
	// The new pod on a is available: the old one goes.
	f.pods = append(f.pods, newPod("pa2", "a", newHash, ready))
	f.start()
	f.sync()
	if got := f.deleted(); len(got) != 1 || got[0] != "pa" || len(f.created()) != 0 {
		t.Fatalf("deleted %v, created %d; want pa deleted only", got, len(f.created()))
	}
	// Once that is seen, b gets its surge pod.
	f.pods = []*corev1.Pod{f.pods[2], f.pods[1]}
	f.start()
	f.sync()
	if len(f.deleted()) != 0 || len(f.created()) != 1 || targetNode(f.created()[0]) != "b" {
		t.Fatalf("created %d pods, want one for b", len(f.created()))
	}
}

// OnDelete never deletes old pods.
func TestOnDeleteLeavesOldPods(t *testing.T) {
	f := newFixture(t)
	oldRev := revisionOf(t, newDS("nginx:1"), 1)
	ds := newDS("nginx:2")
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	f.ds = []*appsv1.DaemonSet{ds}
	f.revs = []*appsv1.ControllerRevision{oldRev, revisionOf(t, ds, 2)}
	f.nodes = []*corev1.Node{newNode("a")}
	f.pods = []*corev1.Pod{newPod("pa", "a", oldRev.Labels[history.HashLabel], ready)}
	f.start()
	f.sync()
	f.expectActions("update daemonsets/status")
	if st := f.status(); st.UpdatedNumberScheduled != 0 || st.NumberAvailable != 1 {
		t.Errorf("status %+v", st)
	}
}

// Rolling back to an older template renumbers its revision as the newest
// (as kubectl rollout undo expects); old revisions beyond the limit that
// no pod runs are deleted.
func TestHistoryRollbackAndTruncate(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx:1")
	ds.Spec.RevisionHistoryLimit = ptr(int32(1))
	r1 := revisionOf(t, ds, 1)
	r2 := revisionOf(t, newDS("nginx:2"), 2)
	r3 := revisionOf(t, newDS("nginx:3"), 3)
	f.ds = []*appsv1.DaemonSet{ds}
	f.revs = []*appsv1.ControllerRevision{r1, r2, r3}
	f.nodes = []*corev1.Node{newNode("a")}
	f.pods = []*corev1.Pod{newPod("pa", "a", r3.Labels[history.HashLabel], ready)}
	f.start()
	f.sync()
	var renumbered, deleted []string
	for _, a := range f.client.Actions() {
		switch {
		case a.GetVerb() == "patch" && a.GetResource().Resource == "controllerrevisions":
			renumbered = append(renumbered, a.(interface{ GetName() string }).GetName()+" "+string(a.(interface{ GetPatch() []byte }).GetPatch()))
		case a.GetVerb() == "delete" && a.GetResource().Resource == "controllerrevisions":
			deleted = append(deleted, a.(interface{ GetName() string }).GetName())
		}
	}
	if len(renumbered) != 1 || renumbered[0] != r1.Name+` {"revision":4}` {
		t.Errorf("renumbered %v, want %s to revision 4", renumbered, r1.Name)
	}
	// r3 is in use by pa, r1 is current: only r2 may go, and must.
	if len(deleted) != 1 || deleted[0] != r2.Name {
		t.Errorf("deleted revisions %v, want %s", deleted, r2.Name)
	}
	// The old pod is replaced as a rolling update.
	if got := f.deleted(); len(got) != 1 || got[0] != "pa" {
		t.Errorf("deleted pods %v, want pa", got)
	}
}

// Orphan pods matching the selector are adopted.
func TestAdoptsOrphans(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx")
	f.ds = []*appsv1.DaemonSet{ds}
	rev := revisionOf(t, ds, 1)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.nodes = []*corev1.Node{newNode("a")}
	orphan := newPod("orphan", "a", rev.Labels[history.HashLabel], ready)
	orphan.OwnerReferences = nil
	f.pods = []*corev1.Pod{orphan}
	f.start()
	f.sync()
	f.expectActions("get daemonsets", "patch pods", "update daemonsets/status")
	if st := f.status(); st.CurrentNumberScheduled != 1 || st.NumberReady != 1 {
		t.Errorf("status %+v", st)
	}
}

// Node changes enqueue a DaemonSet only when they change its placement.
func TestNodeEventsEnqueueOnPlacementChange(t *testing.T) {
	f := newFixture(t)
	f.ds = []*appsv1.DaemonSet{newDS("nginx")}
	f.start()
	n := newNode("a")
	heartbeat := n.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	f.ctrl.updateNode(n, heartbeat)
	if f.ctrl.queue.Len() != 0 {
		t.Fatalf("a status-only change enqueued %d keys", f.ctrl.queue.Len())
	}
	tainted := n.DeepCopy()
	taint("other", corev1.TaintEffectPreferNoSchedule)(tainted)
	f.ctrl.updateNode(n, tainted)
	if f.ctrl.queue.Len() != 0 {
		t.Fatalf("a PreferNoSchedule taint enqueued %d keys", f.ctrl.queue.Len())
	}
	relabelled := n.DeepCopy()
	relabelled.Labels = nil
	f.ctrl.updateNode(n, relabelled)
	if f.ctrl.queue.Len() != 1 {
		t.Fatalf("losing the label enqueued %d keys, want 1", f.ctrl.queue.Len())
	}
	f.ctrl.addNode(newNode("other", unlabelled))
	if f.ctrl.queue.Len() != 1 {
		t.Fatalf("a node the DaemonSet ignores was enqueued")
	}
}

// The deprecated template generation annotation (written by upstream's API
// server) labels new pods, and a pod of that generation counts as updated
// whatever its hash.
func TestTemplateGenerationLabel(t *testing.T) {
	f := newFixture(t)
	ds := newDS("nginx")
	ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "3"}
	f.ds = []*appsv1.DaemonSet{ds}
	f.revs = []*appsv1.ControllerRevision{revisionOf(t, ds, 1)}
	f.nodes = []*corev1.Node{newNode("a"), newNode("b")}
	byGeneration := newPod("pa", "a", "some-old-hash", ready)
	byGeneration.Labels[templateGenerationLabel] = "3"
	f.pods = []*corev1.Pod{byGeneration}
	f.start()
	f.sync()
	if len(f.created()) != 1 || f.created()[0].Labels[templateGenerationLabel] != "3" {
		t.Fatalf("created %v", f.created())
	}
	if len(f.deleted()) != 0 {
		t.Errorf("deleted %v: a pod of the current generation is up to date", f.deleted())
	}
	if st := f.status(); st.UpdatedNumberScheduled != 1 {
		t.Errorf("status %+v", st)
	}
}
