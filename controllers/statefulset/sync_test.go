package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	core "k8s.io/client-go/testing"
)

// OrderedReady: the first sync creates revision 1, db-0 and its claim, and
// nothing more; the pod carries its identity and mounts the claim.
func TestOrderedReadyCreatesFirstPodOnly(t *testing.T) {
	f := newFixture(t, newSet(3, "img:1"))
	f.sync()
	f.expect("create", "controllerrevisions", revisionOf(t, f.set, 1).Name)
	f.expect("create", "persistentvolumeclaims", "data-db-0")
	f.expect("create", "pods", "db-0")
	p := f.createdPod("db-0")
	if p.Labels[appsv1.StatefulSetPodNameLabel] != "db-0" || p.Labels[appsv1.PodIndexLabel] != "0" ||
		p.Labels[appsv1.StatefulSetRevisionLabel] != revisionOf(t, f.set, 1).Name || p.Labels["app"] != "db" {
		t.Errorf("labels %v", p.Labels)
	}
	if p.Spec.Hostname != "db-0" || p.Spec.Subdomain != "db-svc" {
		t.Errorf("hostname %q subdomain %q", p.Spec.Hostname, p.Spec.Subdomain)
	}
	if len(p.Spec.Volumes) != 2 || p.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-0" || p.Spec.Volumes[1].Name != "scratch" {
		t.Errorf("volumes %+v: want data -> data-db-0 replacing the template's, scratch kept", p.Spec.Volumes)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != "uid-db" {
		t.Errorf("controller ref %v", ref)
	}
	for _, a := range f.client.Actions() {
		if ca, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "persistentvolumeclaims" {
			pvc := ca.GetObject().(*corev1.PersistentVolumeClaim)
			if pvc.Labels["app"] != "db" || len(pvc.OwnerReferences) != 0 {
				t.Errorf("claim labels %v owners %v; Retain wants no owner", pvc.Labels, pvc.OwnerReferences)
			}
		}
	}
	st := f.status()
	if st.ObservedGeneration != 1 || st.CurrentRevision != revisionOf(t, f.set, 1).Name || st.UpdateRevision != st.CurrentRevision || *st.CollisionCount != 0 {
		t.Errorf("status %+v", st)
	}
}

// The next ordinal waits until the previous pod is Running and Ready.
func TestOrderedReadyWaitsForPredecessor(t *testing.T) {
	set := newSet(3, "img:1")
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.pods = []*corev1.Pod{pod(set, 0, rev)}
	f.sync()
	f.expect("create", "pods")
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready)}
	f.sync()
	f.expect("create", "pods", "db-1")
	if st := f.status(); st.Replicas != 1 || st.ReadyReplicas != 1 || st.CurrentReplicas != 1 || st.UpdatedReplicas != 1 {
		t.Errorf("status %+v", st)
	}
}

// minReadySeconds delays the next ordinal until the pod is available.
func TestOrderedReadyHonoursMinReadySeconds(t *testing.T) {
	set := newSet(2, "img:1")
	set.Spec.MinReadySeconds = 7200
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready)} // ready for one hour
	f.sync()
	f.expect("create", "pods")
	f.clock.Step(2 * 3600e9)
	f.sync()
	f.expect("create", "pods", "db-1")
}

// Parallel creates every missing ordinal at once.
func TestParallelCreatesAll(t *testing.T) {
	set := newSet(3, "img:1")
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	f := newFixture(t, set)
	f.sync()
	f.expect("create", "pods", "db-0", "db-1", "db-2")
	if got := sorted(f.calls("create", "persistentvolumeclaims")); len(got) != 3 || got[2] != "data-db-2" {
		t.Errorf("claims %v", got)
	}
}

// Scale down deletes from the highest ordinal, one at a time, and waits
// while it terminates.
func TestScaleDownInReverseOrder(t *testing.T) {
	set := newSet(1, "img:1")
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready), pod(set, 1, rev, ready), pod(set, 2, rev, ready)}
	f.sync()
	f.expect("delete", "pods", "db-2")
	f.pods[2] = pod(set, 2, rev, ready, deleting)
	f.sync()
	f.expect("delete", "pods")
	f.pods = f.pods[:2]
	f.sync()
	f.expect("delete", "pods", "db-1")
	f.expect("update", "persistentvolumeclaims") // Retain: claims untouched
}

// whenScaled=Delete hands the claim to the condemned pod before deleting
// it; whenDeleted=Delete makes the set own new claims.
func TestClaimRetentionPolicy(t *testing.T) {
	set := newSet(1, "img:1")
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	setRef := *metav1.NewControllerRef(set, controllerKind)
	claim := func(ord int) *corev1.PersistentVolumeClaim {
		c := newClaim(set, &set.Spec.VolumeClaimTemplates[0], ord)
		c.OwnerReferences = []metav1.OwnerReference{setRef}
		return c
	}
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready), pod(set, 1, rev, ready)}
	f.pvcs = []*corev1.PersistentVolumeClaim{claim(0), claim(1)}
	f.sync()
	f.expect("update", "persistentvolumeclaims", "data-db-1")
	f.expect("delete", "pods", "db-1")
	for _, a := range f.client.Actions() {
		if ua, ok := a.(core.UpdateAction); ok && a.GetResource().Resource == "persistentvolumeclaims" {
			refs := ua.GetObject().(*corev1.PersistentVolumeClaim).OwnerReferences
			if len(refs) != 2 || refs[1].Kind != "Pod" || refs[1].Name != "db-1" || refs[1].UID != f.pods[1].UID {
				t.Errorf("claim owners %+v, want the set and pod db-1", refs)
			}
		}
	}
	// A fresh set creates its claims owned by the set.
	f2 := newFixture(t, set)
	f2.sync()
	for _, a := range f2.client.Actions() {
		if ca, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "persistentvolumeclaims" {
			if refs := ca.GetObject().(*corev1.PersistentVolumeClaim).OwnerReferences; len(refs) != 1 || refs[0].UID != "uid-db" {
				t.Errorf("new claim owners %+v, want the set", refs)
			}
		}
	}
}

// A template change rolls from the highest ordinal, one unavailable pod at
// a time, and stops at the partition.
func TestRollingUpdateFromHighestOrdinal(t *testing.T) {
	old := newSet(3, "img:1")
	r1 := revisionOf(t, old, 1)
	set := newSet(3, "img:2")
	set.Generation = 2
	set.Status.CurrentRevision = r1.Name
	r2 := revisionOf(t, set, 2)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{r1}
	f.pods = []*corev1.Pod{pod(old, 0, r1, ready), pod(old, 1, r1, ready), pod(old, 2, r1, ready)}
	f.sync()
	f.expect("create", "controllerrevisions", r2.Name)
	f.expect("delete", "pods", "db-2")
	if st := f.status(); st.CurrentRevision != r1.Name || st.UpdateRevision != r2.Name || st.CurrentReplicas != 3 || st.UpdatedReplicas != 0 {
		t.Errorf("status %+v", st)
	}

	// db-2 is back at r2 but not ready: nothing else goes.
	f.revs = []*appsv1.ControllerRevision{r1, r2}
	f.pods[2] = pod(set, 2, r2)
	f.sync()
	f.expect("delete", "pods")
	// Ready: db-1 goes next.
	f.pods[2] = pod(set, 2, r2, ready)
	f.sync()
	f.expect("delete", "pods", "db-1")

	// With partition 2 the update stops after db-2.
	set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(2))
	f.sync()
	f.expect("delete", "pods")
	// A missing pod below the partition comes back at the current revision.
	f.pods = []*corev1.Pod{pod(old, 0, r1, ready), pod(set, 2, r2, ready)}
	f.sync()
	f.expect("create", "pods", "db-1")
	if p := f.createdPod("db-1"); p.Labels[appsv1.StatefulSetRevisionLabel] != r1.Name || p.Spec.Containers[0].Image != "img:1" {
		t.Errorf("db-1 re-created at %s with %s, want %s with img:1", p.Labels[appsv1.StatefulSetRevisionLabel], p.Spec.Containers[0].Image, r1.Name)
	}
}

// maxUnavailable 2 replaces two pods at once.
func TestRollingUpdateMaxUnavailable(t *testing.T) {
	old := newSet(3, "img:1")
	r1 := revisionOf(t, old, 1)
	set := newSet(3, "img:2")
	set.Status.CurrentRevision = r1.Name
	set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(2))
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{r1, revisionOf(t, set, 2)}
	f.pods = []*corev1.Pod{pod(old, 0, r1, ready), pod(old, 1, r1, ready), pod(old, 2, r1, ready)}
	f.sync()
	f.expect("delete", "pods", "db-2", "db-1")
}

// Once every pod runs the update revision and is ready, it becomes the
// current revision.
func TestRolloutCompletes(t *testing.T) {
	old := newSet(2, "img:1")
	r1 := revisionOf(t, old, 1)
	set := newSet(2, "img:2")
	set.Status.CurrentRevision = r1.Name
	r2 := revisionOf(t, set, 2)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{r1, r2}
	f.pods = []*corev1.Pod{pod(set, 0, r2, ready), pod(set, 1, r2, ready)}
	f.sync()
	if st := f.status(); st.CurrentRevision != r2.Name || st.CurrentReplicas != 2 || st.UpdatedReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 2 {
		t.Errorf("status %+v", st)
	}
}

// OnDelete replaces nothing itself; a pod the user deleted comes back at
// the update revision.
func TestOnDelete(t *testing.T) {
	old := newSet(2, "img:1")
	r1 := revisionOf(t, old, 1)
	set := newSet(2, "img:2")
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	set.Status.CurrentRevision = r1.Name
	r2 := revisionOf(t, set, 2)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{r1, r2}
	f.pods = []*corev1.Pod{pod(old, 0, r1, ready), pod(old, 1, r1, ready)}
	f.sync()
	f.expect("delete", "pods")
	f.pods = f.pods[:1]
	f.sync()
	f.expect("create", "pods", "db-1")
	if p := f.createdPod("db-1"); p.Labels[appsv1.StatefulSetRevisionLabel] != r2.Name {
		t.Errorf("db-1 at %s, want %s", p.Labels[appsv1.StatefulSetRevisionLabel], r2.Name)
	}
}

// A failed pod is deleted so that the next sync re-creates it.
func TestFailedPodIsReplaced(t *testing.T) {
	set := newSet(2, "img:1")
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.pods = []*corev1.Pod{pod(set, 0, rev, failed), pod(set, 1, rev, ready)}
	f.sync()
	f.expect("delete", "pods", "db-0")
	f.expect("create", "pods")
}

// Lost identity labels are restored; foreign pods are not adopted.
func TestIdentityRepairAndAdoption(t *testing.T) {
	set := newSet(2, "img:1")
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	p0 := pod(set, 0, rev, ready)
	delete(p0.Labels, appsv1.PodIndexLabel)
	orphan := pod(set, 1, rev, ready)
	orphan.OwnerReferences = nil
	stranger := pod(set, 1, rev, ready)
	stranger.Name, stranger.OwnerReferences = "other-1", nil
	f.pods = []*corev1.Pod{p0, orphan, stranger}
	f.sync()
	if got := sorted(f.calls("patch", "pods")); len(got) != 2 || got[0] != "db-0" || got[1] != "db-1" {
		t.Errorf("patched %v, want db-0 (identity) and db-1 (adoption)", got)
	}
}

// Rolling back to an older template renumbers its revision as the newest.
func TestRollbackRenumbersRevision(t *testing.T) {
	set := newSet(1, "img:1")
	r1 := revisionOf(t, set, 1)
	r2 := revisionOf(t, newSet(1, "img:2"), 2)
	set.Status.CurrentRevision = r2.Name
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{r1, r2}
	f.pods = []*corev1.Pod{pod(newSet(1, "img:2"), 0, r2, ready)}
	f.sync()
	f.expect("patch", "controllerrevisions", r1.Name)
	f.expect("delete", "pods", "db-0")
}

// spec.ordinals.start shifts the ordinals; pods below it are condemned.
func TestStartOrdinal(t *testing.T) {
	set := newSet(2, "img:1")
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	rev := revisionOf(t, set, 1)
	f := newFixture(t, set)
	f.revs = []*appsv1.ControllerRevision{rev}
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready)}
	f.sync()
	f.expect("create", "pods", "db-5")
	f.expect("delete", "pods")
	f.pods = []*corev1.Pod{pod(set, 0, rev, ready), pod(set, 5, rev, ready), pod(set, 6, rev, ready)}
	f.sync()
	f.expect("delete", "pods", "db-0")
	if p := pod(set, 6, rev); p.Labels[appsv1.PodIndexLabel] != "6" || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-6" {
		t.Errorf("pod 6 labels %v volumes %+v", p.Labels, p.Spec.Volumes)
	}
}
