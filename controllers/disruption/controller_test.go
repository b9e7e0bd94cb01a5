package disruption

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture follows sample-controller: objects go both into the fake
// clientset and, by hand, into the informer indexers; informers never run.
type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	clock   *clocktesting.FakeClock
	objects []runtime.Object
	ctrl    *Controller
	events  *record.FakeRecorder
	inf     informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(t0), objects: objs}
	f.client = fake.NewClientset(objs...)
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	f.ctrl = NewController(f.client, f.inf.Policy().V1().PodDisruptionBudgets(), f.inf.Core().V1().Pods(),
		f.inf.Apps().V1().ReplicaSets(), f.inf.Apps().V1().Deployments(), f.inf.Apps().V1().StatefulSets(), f.clock)
	f.ctrl.synced = func() bool { return true }
	f.events = record.NewFakeRecorder(100)
	f.ctrl.recorder = f.events
	for _, o := range objs {
		f.add(o)
	}
	return f
}

// add puts an object into its informer's indexer.
func (f *fixture) add(o runtime.Object) {
	var err error
	switch o := o.(type) {
	case *policyv1.PodDisruptionBudget:
		err = f.inf.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Add(o)
	case *corev1.Pod:
		err = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(o)
	case *appsv1.ReplicaSet:
		err = f.inf.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
	case *appsv1.Deployment:
		err = f.inf.Apps().V1().Deployments().Informer().GetIndexer().Add(o)
	case *appsv1.StatefulSet:
		err = f.inf.Apps().V1().StatefulSets().Informer().GetIndexer().Add(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync runs one sync of the budget and returns the status written (nil
// when nothing was written) and the recheck delay.
func (f *fixture) sync(name string) (*policyv1.PodDisruptionBudgetStatus, time.Duration, error) {
	f.t.Helper()
	f.client.ClearActions()
	after, err := f.ctrl.sync(context.Background(), "default/"+name)
	var written *policyv1.PodDisruptionBudgetStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			pdb := a.(core.UpdateAction).GetObject().(*policyv1.PodDisruptionBudget)
			written = &pdb.Status
		}
	}
	return written, after, err
}

// mustSync syncs, expects success and a status write, and returns it.
func (f *fixture) mustSync(name string) *policyv1.PodDisruptionBudgetStatus {
	f.t.Helper()
	st, _, err := f.sync(name)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	if st == nil {
		f.t.Fatal("no status written")
	}
	return st
}

func (f *fixture) expectEvent(reason string) {
	f.t.Helper()
	for {
		select {
		case e := <-f.events.Events:
			if strings.Contains(e, reason) {
				return
			}
		default:
			f.t.Errorf("no %s event", reason)
			return
		}
	}
}

var sel = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

func newPDB(name string, minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Generation: 1, UID: types.UID("uid-" + name)},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: sel, MinAvailable: minAvailable, MaxUnavailable: maxUnavailable},
	}
}

func ptr[T any](v T) *T { return &v }

func newDeployment(name string, replicas int32) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(replicas), Selector: sel}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-abc", Namespace: "default", UID: types.UID("uid-" + name + "-abc"),
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(replicas), Selector: sel}}
	return d, rs
}

type podOpt func(*corev1.Pod)

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func deleting(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.NewTime(t0)) }

func ownedBy(owner metav1.Object, kind string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind(kind))}
	}
}

func newPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
		Labels: map[string]string{"app": "web"}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func expectStatus(t *testing.T, st *policyv1.PodDisruptionBudgetStatus, expected, healthy, desired, allowed int32) {
	t.Helper()
	if st.ExpectedPods != expected || st.CurrentHealthy != healthy || st.DesiredHealthy != desired || st.DisruptionsAllowed != allowed {
		t.Errorf("status expected/healthy/desired/allowed = %d/%d/%d/%d, want %d/%d/%d/%d", st.ExpectedPods, st.CurrentHealthy,
			st.DesiredHealthy, st.DisruptionsAllowed, expected, healthy, desired, allowed)
	}
}

func expectCondition(t *testing.T, st *policyv1.PodDisruptionBudgetStatus, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Errorf("DisruptionAllowed condition %+v, want %s/%s", c, status, reason)
	}
}

func TestDeploymentMinAvailable(t *testing.T) {
	d, rs := newDeployment("web", 3)
	pdb := newPDB("pdb", ptr(intstr.FromInt32(2)), nil)
	f := newFixture(t, d, rs, pdb,
		newPod("a", ready, ownedBy(rs, "ReplicaSet")), newPod("b", ready, ownedBy(rs, "ReplicaSet")),
		newPod("c", ready, ownedBy(rs, "ReplicaSet")))
	st := f.mustSync("pdb")
	expectStatus(t, st, 3, 3, 2, 1)
	expectCondition(t, st, metav1.ConditionTrue, policyv1.SufficientPodsReason)
	if st.ObservedGeneration != 1 {
		t.Errorf("observedGeneration %d", st.ObservedGeneration)
	}

	// Written status in the cache: the next sync writes nothing.
	cur := pdb.DeepCopy()
	cur.Status = *st
	f.add(cur)
	if again, _, err := f.sync("pdb"); err != nil || again != nil {
		t.Errorf("second sync wrote %+v (%v), want no write", again, err)
	}

	// One pod being deleted, another not ready: 1 healthy of 2 wanted.
	f.add(newPod("a", ready, ownedBy(rs, "ReplicaSet"), deleting))
	f.add(newPod("b", ownedBy(rs, "ReplicaSet")))
	st = f.mustSync("pdb")
	expectStatus(t, st, 3, 1, 2, 0)
	expectCondition(t, st, metav1.ConditionFalse, policyv1.InsufficientPodsReason)
}

// Percentages round up, against the summed scale of the controllers.
func TestPercentagesAndScales(t *testing.T) {
	d, rs := newDeployment("web", 3)
	// During a rollout the old and new ReplicaSets count once, as their Deployment.
	rsNew := rs.DeepCopy()
	rsNew.Name, rsNew.UID = "web-new", "uid-web-new"
	ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "uid-db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(2))}}
	lone := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "lone", Namespace: "default", UID: "uid-lone"},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(5))}}
	pods := []runtime.Object{d, rs, rsNew, ss, lone,
		newPod("d1", ready, ownedBy(rs, "ReplicaSet")), newPod("d2", ready, ownedBy(rsNew, "ReplicaSet")),
		newPod("s1", ready, ownedBy(ss, "StatefulSet")), newPod("s2", ownedBy(ss, "StatefulSet")),
		newPod("l1", ready, ownedBy(lone, "ReplicaSet"))}
	// Scale 3 + 2 + 5 = 10; 4 pods ready.
	cases := []struct {
		name                   string
		minAvailable, maxUnav  *intstr.IntOrString
		expected, desired, all int32
	}{
		{"minAvailable 25%", ptr(intstr.FromString("25%")), nil, 10, 3, 1},
		{"minAvailable 21%", ptr(intstr.FromString("21%")), nil, 10, 3, 1},
		{"maxUnavailable 75%", nil, ptr(intstr.FromString("75%")), 10, 2, 2},
		{"maxUnavailable 7", nil, ptr(intstr.FromInt32(7)), 10, 3, 1},
		{"maxUnavailable above scale", nil, ptr(intstr.FromInt32(20)), 10, 0, 4},
		{"minAvailable integer counts pods", ptr(intstr.FromInt32(3)), nil, 5, 3, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, append([]runtime.Object{newPDB("pdb", tc.minAvailable, tc.maxUnav)}, pods...)...)
			expectStatus(t, f.mustSync("pdb"), tc.expected, 4, tc.desired, tc.all)
		})
	}
}

// A ReplicaSet whose Deployment is gone counts with its own scale.
func TestReplicaSetOfMissingDeployment(t *testing.T) {
	_, rs := newDeployment("web", 4)
	f := newFixture(t, rs, newPDB("pdb", nil, ptr(intstr.FromInt32(1))), newPod("a", ready, ownedBy(rs, "ReplicaSet")))
	expectStatus(t, f.mustSync("pdb"), 4, 1, 3, 0)
}

func TestUnmanagedPods(t *testing.T) {
	_, rs := newDeployment("web", 2)
	objs := []runtime.Object{rs, newPod("a", ready, ownedBy(rs, "ReplicaSet")), newPod("b", ready, ownedBy(rs, "ReplicaSet")),
		newPod("bare", ready)}
	// An integer minAvailable counts every pod.
	f := newFixture(t, append(objs, newPDB("pdb", ptr(intstr.FromInt32(2)), nil))...)
	expectStatus(t, f.mustSync("pdb"), 3, 3, 2, 1)
	// maxUnavailable counts the controllers' scale and warns.
	f = newFixture(t, append(objs, newPDB("pdb", nil, ptr(intstr.FromInt32(1))))...)
	expectStatus(t, f.mustSync("pdb"), 2, 3, 1, 2)
	f.expectEvent("UnmanagedPods")
}

// A pod whose controller has no scale closes the budget (SyncFailed) and
// the key is retried.
func TestSyncFailed(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", UID: "uid-j"}}
	pod := newPod("a", ready)
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}
	pdb := newPDB("pdb", ptr(intstr.FromString("50%")), nil)
	pdb.Status.DisruptionsAllowed = 3
	f := newFixture(t, pdb, pod)
	st, _, err := f.sync("pdb")
	if err == nil || !strings.Contains(err.Error(), `found no controllers for pod "a"`) {
		t.Fatalf("sync error %v", err)
	}
	if st == nil || st.DisruptionsAllowed != 0 {
		t.Fatalf("status %+v, want disruptionsAllowed 0", st)
	}
	expectCondition(t, st, metav1.ConditionFalse, policyv1.SyncFailedReason)
	f.expectEvent("CalculateExpectedPodCountFailed")
}

func TestNoPodsAllowsNothing(t *testing.T) {
	f := newFixture(t, newPDB("pdb", ptr(intstr.FromInt32(0)), nil))
	st := f.mustSync("pdb")
	expectStatus(t, st, 0, 0, 0, 0)
	expectCondition(t, st, metav1.ConditionFalse, policyv1.InsufficientPodsReason)
	f.expectEvent("NoPods")
}

// Pods an eviction recorded stay out of the healthy count until their
// deletion shows or two minutes pass; the budget is looked at again then.
func TestDisruptedPods(t *testing.T) {
	_, rs := newDeployment("web", 3)
	pdb := newPDB("pdb", ptr(intstr.FromInt32(2)), nil)
	pdb.Status.DisruptedPods = map[string]metav1.Time{
		"a":    metav1.NewTime(t0.Add(-time.Minute)),     // evicted a minute ago, not deleted yet
		"b":    metav1.NewTime(t0.Add(-3 * time.Minute)), // expired
		"c":    metav1.NewTime(t0),                       // deletion already began
		"gone": metav1.NewTime(t0),                       // no such pod
	}
	f := newFixture(t, rs, pdb, newPod("a", ready, ownedBy(rs, "ReplicaSet")), newPod("b", ready, ownedBy(rs, "ReplicaSet")),
		newPod("c", ready, ownedBy(rs, "ReplicaSet"), deleting), newPod("d", ready, ownedBy(rs, "ReplicaSet")))
	st, after, err := f.sync("pdb")
	if err != nil || st == nil {
		t.Fatalf("sync: %v %+v", err, st)
	}
	if len(st.DisruptedPods) != 1 || !st.DisruptedPods["a"].Time.Equal(t0.Add(-time.Minute)) {
		t.Errorf("disruptedPods %v, want only a", st.DisruptedPods)
	}
	expectStatus(t, st, 4, 2, 2, 0) // b and d healthy
	if after <= 0 || after > time.Minute+2*time.Second || after < time.Minute {
		t.Errorf("recheck after %v, want about a minute", after)
	}
	f.expectEvent("NotDeleted")

	// A minute later the entry of a has expired: a counts again.
	f.clock.Step(after)
	cur := pdb.DeepCopy()
	cur.Status = *st
	f.add(cur)
	st, after, err = f.sync("pdb")
	if err != nil || st == nil {
		t.Fatalf("sync: %v %+v", err, st)
	}
	if len(st.DisruptedPods) != 0 || after != 0 {
		t.Errorf("disruptedPods %v recheck %v, want none", st.DisruptedPods, after)
	}
	expectStatus(t, st, 4, 3, 2, 1)
}

// A conflict (an eviction wrote first) is retried without closing the budget.
func TestConflictIsRetriedWithoutFailSafe(t *testing.T) {
	_, rs := newDeployment("web", 1)
	f := newFixture(t, rs, newPDB("pdb", ptr(intstr.FromInt32(0)), nil), newPod("a", ready, ownedBy(rs, "ReplicaSet")))
	f.client.PrependReactor("update", "poddisruptionbudgets", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(policyv1.Resource("poddisruptionbudgets"), "pdb", errors.New("stale"))
	})
	_, _, err := f.sync("pdb")
	if !apierrors.IsConflict(err) {
		t.Fatalf("err %v, want the conflict", err)
	}
	if n := len(f.client.Actions()); n != 1 {
		t.Errorf("%d calls, want the one status update (no fail-safe write)", n)
	}
}

func TestDeletedBudgetIsIgnored(t *testing.T) {
	f := newFixture(t)
	if st, _, err := f.sync("nope"); err != nil || st != nil {
		t.Errorf("sync of a missing budget: %+v %v", st, err)
	}
}

// Pod events queue every budget whose selector matches, old labels too.
func TestPodEventsEnqueueMatchingBudgets(t *testing.T) {
	other := newPDB("other", ptr(intstr.FromInt32(1)), nil)
	other.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	all := newPDB("all", ptr(intstr.FromInt32(1)), nil)
	all.Spec.Selector = &metav1.LabelSelector{}
	f := newFixture(t, newPDB("web", ptr(intstr.FromInt32(1)), nil), other, all)
	q := f.ctrl.queue
	drain := func() []string {
		var keys []string
		for q.Len() > 0 {
			k, _ := q.Get()
			keys = append(keys, k)
			q.Done(k)
			q.Forget(k)
		}
		return keys
	}
	pod := newPod("a")
	pod.ResourceVersion = "1"
	f.ctrl.podChanged(pod)
	if got := strings.Join(sorted(drain()), ","); got != "default/all,default/web" {
		t.Errorf("add queued %s", got)
	}
	moved := pod.DeepCopy()
	moved.ResourceVersion = "2"
	moved.Labels = map[string]string{"app": "db"}
	f.ctrl.updatePod(pod, moved)
	if got := strings.Join(sorted(drain()), ","); got != "default/all,default/other,default/web" {
		t.Errorf("relabel queued %s", got)
	}
	f.ctrl.updatePod(moved, moved)
	if q.Len() != 0 {
		t.Errorf("a resync queued %d keys", q.Len())
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
