package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"corral/controllers/expectations"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture follows sample-controller: objects go both into the fake
// clientset and, by hand, into the informer indexers; informers never run.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	rsList []*appsv1.ReplicaSet
	pods   []*corev1.Pod
	ctrl   *Controller
	events *record.FakeRecorder
	inf    informers.SharedInformerFactory
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, clock: clocktesting.NewFakeClock(t0)}
}

func (f *fixture) start() *Controller {
	var objs []runtime.Object
	for _, rs := range f.rsList {
		objs = append(objs, rs)
	}
	for _, p := range f.pods {
		objs = append(objs, p)
	}
	f.client = fake.NewClientset(objs...)
	// The fake tracker does not implement generateName.
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%d", pod.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	c := NewController(f.client, f.inf.Apps().V1().ReplicaSets(), f.inf.Core().V1().Pods(), f.clock)
	c.synced = func() bool { return true }
	f.events = record.NewFakeRecorder(100)
	c.recorder = f.events
	for _, rs := range f.rsList {
		_ = f.inf.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(rs)
	}
	for _, p := range f.pods {
		_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(p)
	}
	f.ctrl = c
	return c
}

func (f *fixture) sync(key string) error {
	f.client.ClearActions()
	return f.ctrl.syncReplicaSet(context.Background(), key)
}

// actions returns "verb resource[/subresource]" for each client call.
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	sort.Strings(want)
	if got := f.actions(); strings.Join(got, ",") != strings.Join(want, ",") {
		f.t.Fatalf("actions:\n got  %v\n want %v", got, want)
	}
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	lbl := map[string]string{"app": name}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(t time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t)}}
	}
}
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}

func newPod(name string, rs *appsv1.ReplicaSet, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: types.UID("uid-" + name),
		Labels:            map[string]string{"app": rs.Name},
		OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
	}}
	p.Status.Phase = corev1.PodPending
	for _, o := range opts {
		o(p)
	}
	return p
}

func createdPods(f *fixture) []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func deletedPods(f *fixture) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, d.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func lastStatus(t *testing.T, f *fixture) appsv1.ReplicaSetStatus {
	t.Helper()
	for i := len(f.client.Actions()) - 1; i >= 0; i-- {
		a := f.client.Actions()[i]
		if u, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			return u.GetObject().(*appsv1.ReplicaSet).Status
		}
	}
	t.Fatal("no status update")
	return appsv1.ReplicaSetStatus{}
}

func TestScaleUpCreatesFromTemplateAndWaitsForCache(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 3)
	rs.Spec.Template.Annotations = map[string]string{"a": "b"}
	f.rsList = append(f.rsList, rs)
	c := f.start()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("create pods", "create pods", "create pods", "update replicasets/status")
	for _, p := range createdPods(f) {
		ref := metav1.GetControllerOf(p)
		if p.GenerateName != "web-" || p.Labels["app"] != "web" || p.Annotations["a"] != "b" ||
			ref == nil || ref.UID != rs.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Fatalf("bad pod %+v", p.ObjectMeta)
		}
	}
	if adds, _, _ := c.expectations.Pending("default/web"); adds != 3 {
		t.Fatalf("expected 3 pending creates, got %d", adds)
	}
	// The informer has not seen the pods: a second sync must not create more.
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if n := len(createdPods(f)); n != 0 {
		t.Fatalf("created %d pods while expectations were pending", n)
	}
	// The informer delivers them: expectations are met.
	for i := 1; i <= 3; i++ {
		c.addPod(newPod(fmt.Sprintf("web-%d", i), rs))
	}
	if !c.expectations.Satisfied("default/web") {
		t.Fatal("expectations not satisfied after the informer caught up")
	}
	// And they expire, so a lost event cannot block the ReplicaSet forever.
	c.expectations.Set("default/web", 1, nil)
	f.clock.Step(expectations.TTL + time.Second)
	if !c.expectations.Satisfied("default/web") {
		t.Fatal("expectations did not expire")
	}
}

func TestSlowStartStopsAtFirstFailingBatch(t *testing.T) {
	f := newFixture(t)
	f.rsList = append(f.rsList, newRS("web", 10))
	c := f.start()
	var calls atomic.Int32
	f.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 3 {
			return true, nil, errors.New("quota exceeded")
		}
		return false, nil, nil
	})
	err := f.sync("default/web")
	if err == nil {
		t.Fatal("expected an error")
	}
	// Batches 1, 2 succeed; the batch of 4 fails: 7 attempts, not 10.
	if n := calls.Load(); n != 7 {
		t.Fatalf("create attempts = %d, want 7", n)
	}
	if adds, _, _ := c.expectations.Pending("default/web"); adds != 3 {
		t.Fatalf("pending creates = %d, want 3 (only the successful ones)", adds)
	}
	st := lastStatus(t, f)
	if len(st.Conditions) != 1 || st.Conditions[0].Type != appsv1.ReplicaSetReplicaFailure || st.Conditions[0].Reason != "FailedCreate" {
		t.Fatalf("conditions = %+v", st.Conditions)
	}
	var n atomic.Int32
	if ok, err := slowStartBatch(13, 1, func() error { n.Add(1); return nil }); ok != 13 || err != nil || n.Load() != 13 {
		t.Fatalf("slowStartBatch(13) = %d, %v after %d calls", ok, err, n.Load())
	}
}

func TestScaleDownDeletionRanking(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	f.rsList = append(f.rsList, rs)
	f.pods = []*corev1.Pod{
		newPod("ready-old", rs, onNode("n1"), readySince(t0.Add(-50*time.Minute))),
		newPod("ready-new", rs, onNode("n2"), readySince(t0.Add(-time.Minute))),
		newPod("not-ready", rs, onNode("n3"), phase(corev1.PodRunning)),
		newPod("pending", rs, onNode("n4")),
		newPod("unscheduled", rs),
	}
	c := f.start()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if got := deletedPods(f); fmt.Sprint(got) != "[not-ready pending unscheduled]" {
		t.Fatalf("deleted %v", got)
	}
	// Informer observes: deletionTimestamp first, then the delete, counted once.
	if _, dels, _ := c.expectations.Pending("default/web"); dels != 3 {
		t.Fatalf("pending deletes = %d", dels)
	}
	gone := f.pods[2].DeepCopy()
	now := metav1.NewTime(t0)
	gone.DeletionTimestamp = &now
	gone.ResourceVersion = "2"
	c.updatePod(f.pods[2], gone)
	c.deletePod(gone)
	c.deletePod(f.pods[3])
	if c.expectations.Satisfied("default/web") {
		t.Fatal("satisfied with one deletion outstanding")
	}
	c.deletePod(cache.DeletedFinalStateUnknown{Key: "default/unscheduled", Obj: f.pods[4]})
	if !c.expectations.Satisfied("default/web") {
		t.Fatal("not satisfied after all deletions were observed")
	}
}

func TestScaleDownPrefersNewestAndDoubledUp(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	f.rsList = append(f.rsList, rs)
	f.pods = []*corev1.Pod{
		newPod("a", rs, onNode("n1"), readySince(t0.Add(-time.Hour))),
		newPod("b", rs, onNode("n2"), readySince(t0.Add(-2*time.Hour))),
		newPod("c", rs, onNode("n3"), readySince(t0.Add(-time.Minute)), created(t0.Add(-2*time.Minute))),
	}
	f.start()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if got := deletedPods(f); fmt.Sprint(got) != "[c]" {
		t.Fatalf("deleted %v, want the most recently ready pod", got)
	}

	// Two pods on one node go before a lone pod, even an older one.
	pods := []*corev1.Pod{
		newPod("lone", rs, onNode("n1"), readySince(t0.Add(-time.Minute))),
		newPod("x", rs, onNode("n2"), readySince(t0.Add(-time.Hour))),
		newPod("y", rs, onNode("n2"), readySince(t0.Add(-2*time.Hour))),
	}
	if got := podsToDelete(pods, 1, t0); got[0].Name != "x" {
		t.Fatalf("deleted %s, want x (doubled up, newer)", got[0].Name)
	}
	// Deletion cost beats readiness age.
	pods[1].Annotations = map[string]string{deletionCostAnnotation: "100"}
	pods[2].Annotations = map[string]string{deletionCostAnnotation: "100"}
	if got := podsToDelete(pods, 1, t0); got[0].Name != "lone" {
		t.Fatalf("deleted %s, want lone (lowest cost)", got[0].Name)
	}
}

func TestAdoptAndRelease(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	f.rsList = append(f.rsList, rs)
	orphan := newPod("orphan", rs, onNode("n1"), readySince(t0.Add(-time.Hour)))
	orphan.OwnerReferences = nil
	strayed := newPod("strayed", rs, onNode("n1"), readySince(t0.Add(-time.Hour)))
	strayed.Labels = map[string]string{"app": "other"}
	other := newPod("others", rs, onNode("n1"), readySince(t0.Add(-time.Hour)))
	other.OwnerReferences[0].UID = "someone-else"
	kept := newPod("kept", rs, onNode("n1"), readySince(t0.Add(-time.Hour)))
	f.pods = []*corev1.Pod{orphan, strayed, other, kept}
	f.start()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	// Adoption re-reads the ReplicaSet; nothing is created: orphan + kept = 2.
	f.expectActions("get replicasets", "patch pods", "patch pods", "update replicasets/status")
	patches := map[string]string{}
	for _, a := range f.client.Actions() {
		if p, ok := a.(core.PatchAction); ok {
			patches[p.GetName()] = string(p.GetPatch())
		}
	}
	if !strings.Contains(patches["orphan"], `"controller":true`) || !strings.Contains(patches["orphan"], `"uid":"uid-web"`) {
		t.Fatalf("adopt patch %s", patches["orphan"])
	}
	if !strings.Contains(patches["strayed"], `"$patch":"delete"`) {
		t.Fatalf("release patch %s", patches["strayed"])
	}
	pod, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "orphan", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != rs.UID {
		t.Fatalf("orphan not adopted: %+v", pod.OwnerReferences)
	}
	pod, _ = f.client.CoreV1().Pods("default").Get(context.Background(), "strayed", metav1.GetOptions{})
	if len(pod.OwnerReferences) != 0 {
		t.Fatalf("strayed not released: %+v", pod.OwnerReferences)
	}
	if st := lastStatus(t, f); st.Replicas != 2 || st.ReadyReplicas != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestStatusAvailabilityAndRequeue(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 3)
	rs.Spec.MinReadySeconds = 30
	rs.Generation = 4
	f.rsList = append(f.rsList, rs)
	mislabeled := newPod("c", rs, onNode("n1"), phase(corev1.PodRunning))
	mislabeled.Labels = map[string]string{"app": "web", "extra": "x"}
	rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "fe"}
	dying := newPod("d", rs, onNode("n1"))
	now := metav1.NewTime(t0)
	dying.DeletionTimestamp = &now
	f.pods = []*corev1.Pod{
		newPod("a", rs, onNode("n1"), readySince(t0.Add(-time.Minute))),
		newPod("b", rs, onNode("n1"), readySince(t0.Add(-10*time.Second))),
		mislabeled, dying,
	}
	f.start()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	st := lastStatus(t, f)
	if st.Replicas != 3 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 || st.FullyLabeledReplicas != 0 ||
		st.ObservedGeneration != 4 || st.TerminatingReplicas == nil || *st.TerminatingReplicas != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestRequeueAfterMinReadySeconds(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 2)
	rs.Spec.MinReadySeconds = 30
	f.rsList = append(f.rsList, rs)
	f.pods = []*corev1.Pod{
		newPod("a", rs, onNode("n1"), readySince(t0.Add(-time.Minute))),
		newPod("b", rs, onNode("n1"), readySince(t0.Add(-10*time.Second))),
	}
	c := f.start()
	defer c.queue.ShutDown()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if st := lastStatus(t, f); st.AvailableReplicas != 1 {
		t.Fatalf("status %+v", st)
	}
	if c.queue.Len() != 0 {
		t.Fatal("queued before minReadySeconds passed")
	}
	// The requeue waits on the injected clock.
	deadline := time.Now().Add(5 * time.Second)
	for c.queue.Len() == 0 && time.Now().Before(deadline) {
		f.clock.Step(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	if c.queue.Len() != 1 {
		t.Fatal("ReplicaSet not requeued after minReadySeconds")
	}
}

// Pod status changes right after a sync wait for the batch window; label
// changes do not.
func TestStatusChangesBatched(t *testing.T) {
	f := newFixture(t)
	rs := newRS("web", 1)
	f.rsList = append(f.rsList, rs)
	pending := newPod("a", rs, onNode("n1"), phase(corev1.PodPending))
	f.pods = []*corev1.Pod{pending}
	c := f.start()
	defer c.queue.ShutDown()
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	running := newPod("a", rs, onNode("n1"), readySince(t0))
	running.ResourceVersion = "2"
	c.updatePod(pending, running)
	if c.queue.Len() != 0 {
		t.Fatal("a status change right after a sync was queued at once")
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.queue.Len() == 0 && time.Now().Before(deadline) {
		f.clock.Step(statusBatch)
		time.Sleep(10 * time.Millisecond)
	}
	if c.queue.Len() != 1 {
		t.Fatal("not queued once the window passed")
	}
	key, _ := c.queue.Get()
	c.queue.Done(key)
	relabeled := running.DeepCopy()
	relabeled.Labels = map[string]string{"other": "x"}
	relabeled.ResourceVersion = "3"
	_ = f.sync("default/web") // a window starts again
	c.updatePod(running, relabeled)
	if c.queue.Len() != 1 {
		t.Error("a label change was not queued at once")
	}
}
