package deployment

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
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

// fixture follows sample-controller: a fake clientset holds the truth and
// reload copies it into the informer indexers, which never run.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	inf    informers.SharedInformerFactory
	ctrl   *Controller
	events *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(t0), client: fake.NewClientset(objs...)}
	// Play the API server: uids and creation times on create.
	n := 0
	f.client.PrependReactor("create", "*", func(a core.Action) (bool, runtime.Object, error) {
		if m, err := meta.Accessor(a.(core.CreateAction).GetObject()); err == nil && m.GetUID() == "" {
			n++
			m.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
			m.SetCreationTimestamp(metav1.NewTime(f.clock.Now()))
		}
		return false, nil, nil
	})
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	f.ctrl = NewController(f.client, f.inf.Apps().V1().Deployments(), f.inf.Apps().V1().ReplicaSets(), f.inf.Core().V1().Pods(), f.clock)
	f.ctrl.synced = func() bool { return true }
	f.events = record.NewFakeRecorder(100)
	f.ctrl.recorder = f.events
	t.Cleanup(f.ctrl.queue.ShutDown)
	f.reload()
	return f
}

// reload makes the caches show what the fake API server holds.
func (f *fixture) reload() {
	ctx := context.Background()
	ds, _ := f.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	rss, _ := f.client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	pods, _ := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	var a, b, c []interface{}
	for i := range ds.Items {
		a = append(a, &ds.Items[i])
	}
	for i := range rss.Items {
		b = append(b, &rss.Items[i])
	}
	for i := range pods.Items {
		c = append(c, &pods.Items[i])
	}
	_ = f.inf.Apps().V1().Deployments().Informer().GetIndexer().Replace(a, "")
	_ = f.inf.Apps().V1().ReplicaSets().Informer().GetIndexer().Replace(b, "")
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Replace(c, "")
}

func (f *fixture) sync(name string) {
	f.t.Helper()
	f.reload()
	f.client.ClearActions()
	if err := f.ctrl.syncDeployment(context.Background(), "default/"+name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) replicaSets() []*appsv1.ReplicaSet {
	l, _ := f.client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	var out []*appsv1.ReplicaSet
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return revision(out[i]) < revision(out[j]) })
	return out
}

func (f *fixture) rsByImage(image string) *appsv1.ReplicaSet {
	for _, rs := range f.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

func (f *fixture) verbs() []string {
	var out []string
	for _, a := range f.client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	return out
}

// settle plays the ReplicaSet controller: status.replicas follows spec and
// available pods are those already asked for in the previous round.
func (f *fixture) settle(prevSpec map[string]int32) map[string]int32 {
	next := map[string]int32{}
	for _, rs := range f.replicaSets() {
		spec := rsReplicas(rs)
		next[rs.Name] = spec
		rs.Status.Replicas = spec
		rs.Status.ReadyReplicas = min(spec, prevSpec[rs.Name])
		rs.Status.AvailableReplicas = rs.Status.ReadyReplicas
		rs.Status.ObservedGeneration = rs.Generation
		if _, err := f.client.AppsV1().ReplicaSets("default").UpdateStatus(context.Background(), rs, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	return next
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func ptr[T any](v T) *T { return &v }

// rsFor builds the ReplicaSet the controller would have made for d with
// the given image, fully available at the given size.
func rsFor(d *appsv1.Deployment, image string, replicas int32, rev int, created time.Time) *appsv1.ReplicaSet {
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Spec.Containers[0].Image = image
	hash := computeHash(tmpl, nil)
	tmpl.Labels = withLabel(tmpl.Labels, hash)
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels = withLabel(sel.MatchLabels, hash)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("uid-" + image),
			Labels:            tmpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Annotations: map[string]string{
				RevisionAnnotation:        fmt.Sprint(rev),
				DesiredReplicasAnnotation: fmt.Sprint(replicasOf(d)),
				MaxReplicasAnnotation:     fmt.Sprint(replicasOf(d) + maxSurge(d)),
			},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: sel, Template: *tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
			FullyLabeledReplicas: replicas},
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas              int32
		surge, unavail        intstr.IntOrString
		wantSurge, wantUnavai int32
	}{
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{1, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{3, intstr.FromInt32(0), intstr.FromString("10%"), 0, 1}, // both zero → unavailable 1
		{4, intstr.FromString("50%"), intstr.FromInt32(5), 2, 4},
	} {
		d := newDeployment("d", tc.replicas, "a")
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavail}
		if s, u := maxSurge(d), maxUnavailable(d); s != tc.wantSurge || u != tc.wantUnavai {
			t.Errorf("%d replicas %v/%v: surge %d unavailable %d, want %d %d", tc.replicas, tc.surge.String(), tc.unavail.String(), s, u, tc.wantSurge, tc.wantUnavai)
		}
	}
}

func TestHashIsStableAndSafe(t *testing.T) {
	d := newDeployment("web", 3, "nginx:1")
	h := computeHash(&d.Spec.Template, nil)
	if h != computeHash(d.Spec.Template.DeepCopy(), nil) {
		t.Fatal("hash not deterministic")
	}
	if h == computeHash(&d.Spec.Template, ptr(int32(1))) {
		t.Fatal("collisionCount does not change the hash")
	}
	if strings.ContainsAny(h, "aeiou013") || len(h) == 0 || len(h) > 10 {
		t.Fatalf("hash %q not rendered with SafeEncodeString", h)
	}
}

func TestNewReplicaSetCreatedWithHashLabel(t *testing.T) {
	d := newDeployment("web", 3, "nginx:1")
	f := newFixture(t, d)
	f.sync("web")
	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("%d replicasets", len(rss))
	}
	rs := rss[0]
	hash := computeHash(&d.Spec.Template, nil)
	if rs.Name != "web-"+hash || rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Spec.Template.Labels["app"] != "web" {
		t.Fatalf("bad replicaset %s %v %v", rs.Name, rs.Labels, rs.Spec.Selector)
	}
	if *rs.Spec.Replicas != 3 || rs.Annotations[RevisionAnnotation] != "1" ||
		rs.Annotations[DesiredReplicasAnnotation] != "3" || rs.Annotations[MaxReplicasAnnotation] != "4" {
		t.Fatalf("replicas %d annotations %v", *rs.Spec.Replicas, rs.Annotations)
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
		t.Fatal("no controller ref")
	}
	got := f.deployment("web")
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("deployment revision %q", got.Annotations[RevisionAnnotation])
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewReplicaSetReason {
		t.Fatalf("progressing %+v", c)
	}
	if c := getCondition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Reason != MinimumReplicasUnavailable {
		t.Fatalf("available %+v", c)
	}
}

// TestRollingUpdateBounds drives a whole rollout, pods turning available
// one round after they are asked for, and checks the two promises at every
// step: never more than replicas+maxSurge pods, never fewer than
// replicas-maxUnavailable available.
func TestRollingUpdateBounds(t *testing.T) {
	for _, tc := range []struct {
		replicas       int32
		surge, unavail intstr.IntOrString
	}{
		{10, intstr.FromInt32(3), intstr.FromInt32(2)},
		{10, intstr.FromString("25%"), intstr.FromString("25%")},
		{5, intstr.FromInt32(0), intstr.FromInt32(1)},
		{5, intstr.FromInt32(1), intstr.FromInt32(0)},
		{7, intstr.FromString("30%"), intstr.FromString("0%")},
	} {
		t.Run(fmt.Sprintf("%d-%s-%s", tc.replicas, tc.surge.String(), tc.unavail.String()), func(t *testing.T) {
			d := newDeployment("web", tc.replicas, "v2")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavail}
			d.Spec.MinReadySeconds = 5
			old := rsFor(d, "v1", tc.replicas, 1, t0.Add(-time.Hour))
			f := newFixture(t, d, old)
			maxPods, minAvail := tc.replicas+maxSurge(d), tc.replicas-maxUnavailable(d)
			prev := map[string]int32{old.Name: tc.replicas}
			for round := 0; ; round++ {
				if round > 50 {
					t.Fatal("rollout did not finish")
				}
				f.sync("web")
				total, avail := int32(0), int32(0)
				for _, rs := range f.replicaSets() {
					total += rsReplicas(rs)
					// Scaling down may remove available pods at once.
					avail += min(rs.Status.AvailableReplicas, rsReplicas(rs))
					if rs.Spec.Template.Spec.Containers[0].Image == "v2" && rs.Spec.MinReadySeconds != 5 {
						t.Fatalf("minReadySeconds not propagated to %s", rs.Name)
					}
				}
				t.Logf("round %d: old %d new %d avail %d", round, rsReplicas(f.rsByImage("v1")), rsReplicas(f.rsByImage("v2")), avail)
				if total > maxPods || avail < minAvail {
					t.Fatalf("round %d: %d pods (max %d), %d available (min %d)", round, total, maxPods, avail, minAvail)
				}
				prev = f.settle(prev)
				f.clock.Step(time.Second)
				st := f.deployment("web").Status
				if st.UpdatedReplicas == tc.replicas && st.AvailableReplicas == tc.replicas && st.Replicas == tc.replicas {
					break
				}
			}
			f.sync("web") // observe the final statuses
			d2 := f.deployment("web")
			if c := getCondition(d2.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != NewRSAvailableReason {
				t.Fatalf("progressing %+v", c)
			}
			if rsReplicas(f.rsByImage("v1")) != 0 || d2.Annotations[RevisionAnnotation] != "2" {
				t.Fatalf("old rs %d, revision %s", rsReplicas(f.rsByImage("v1")), d2.Annotations[RevisionAnnotation])
			}
			if f.rsByImage("v2").Annotations[FullyAvailableAnnotation] != "true" {
				t.Fatal("completed ReplicaSet not marked fully available")
			}
		})
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment("web", 3, "v2")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsFor(d, "v1", 3, 1, t0.Add(-time.Hour))
	oldPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: old.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	f := newFixture(t, d, old, oldPod)

	f.sync("web")
	if len(f.replicaSets()) != 1 || rsReplicas(f.rsByImage("v1")) != 0 {
		t.Fatal("old ReplicaSet not scaled down first, or new one created early")
	}
	// Old RS reports no replicas, but a pod is still terminating.
	f.settle(nil)
	f.sync("web")
	if len(f.replicaSets()) != 1 {
		t.Fatal("new ReplicaSet created while an old pod runs")
	}
	_ = f.client.CoreV1().Pods("default").Delete(context.Background(), "p", metav1.DeleteOptions{})
	f.sync("web")
	if rs := f.rsByImage("v2"); rs == nil || rsReplicas(rs) != 3 || rs.Annotations[RevisionAnnotation] != "2" {
		t.Fatalf("new ReplicaSet %+v", rs)
	}
}

func TestPausedOnlyScalesProportionally(t *testing.T) {
	d := newDeployment("web", 10, "v2")
	surge, unavail := intstr.FromInt32(3), intstr.FromInt32(2)
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}
	old := rsFor(d, "v1", 8, 1, t0.Add(-time.Hour))
	cur := rsFor(d, "v2", 5, 2, t0.Add(-time.Minute))
	d.Spec.Paused = true
	d.Spec.Template.Spec.Containers[0].Image = "v3" // edited while paused
	d.Spec.Replicas = ptr(int32(15))
	f := newFixture(t, d, old, cur)
	f.sync("web")
	if f.rsByImage("v3") != nil {
		t.Fatal("paused Deployment rolled out a new template")
	}
	// 13 pods at max 13 → max 18: +5 split 8:5 → +3, +2.
	if o, n := rsReplicas(f.rsByImage("v1")), rsReplicas(f.rsByImage("v2")); o != 11 || n != 7 {
		t.Fatalf("proportional scaling gave %d/%d, want 11/7", o, n)
	}
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Reason != PausedDeployReason {
		t.Fatalf("progressing %+v", c)
	}
	// Resume: the rollout proceeds to v3.
	d2 := f.deployment("web")
	d2.Spec.Paused = false
	_, _ = f.client.AppsV1().Deployments("default").Update(context.Background(), d2, metav1.UpdateOptions{})
	f.settle(map[string]int32{old.Name: 11, cur.Name: 7})
	f.sync("web")
	if f.rsByImage("v3") == nil || f.deployment("web").Annotations[RevisionAnnotation] != "3" {
		t.Fatal("resumed Deployment did not create revision 3")
	}
}

func TestRollbackReusesReplicaSetWithNewRevision(t *testing.T) {
	d := newDeployment("web", 3, "v1") // kubectl rollout undo patched v1 back in
	v1 := rsFor(d, "v1", 0, 1, t0.Add(-time.Hour))
	v2 := rsFor(d, "v2", 3, 2, t0.Add(-time.Minute))
	d.Annotations = map[string]string{RevisionAnnotation: "2"}
	f := newFixture(t, d, v1, v2)
	f.sync("web")
	rs := f.rsByImage("v1")
	if rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Fatalf("reused ReplicaSet annotations %v", rs.Annotations)
	}
	if len(f.replicaSets()) != 2 {
		t.Fatal("a new ReplicaSet was created for an old template")
	}
	got := f.deployment("web")
	if got.Annotations[RevisionAnnotation] != "3" {
		t.Fatalf("deployment revision %s", got.Annotations[RevisionAnnotation])
	}
	if c := getCondition(got.Status, appsv1.DeploymentProgressing); c == nil || c.Reason != FoundNewRSReason && c.Reason != ReplicaSetUpdatedReason {
		t.Fatalf("progressing %+v", c)
	}
	// Undo again (to v2): revision 4, history keeps 2.
	got.Spec.Template.Spec.Containers[0].Image = "v2"
	_, _ = f.client.AppsV1().Deployments("default").Update(context.Background(), got, metav1.UpdateOptions{})
	f.sync("web")
	if rs := f.rsByImage("v2"); rs.Annotations[RevisionAnnotation] != "4" || rs.Annotations[RevisionHistoryAnnotation] != "2" {
		t.Fatalf("second rollback annotations %v", rs.Annotations)
	}
}

func TestRevisionHistoryCleanup(t *testing.T) {
	d := newDeployment("web", 2, "v5")
	d.Spec.RevisionHistoryLimit = ptr(int32(2))
	objs := []runtime.Object{}
	for i := 1; i <= 4; i++ {
		objs = append(objs, rsFor(d, fmt.Sprintf("v%d", i), 0, i, t0.Add(time.Duration(i)*time.Minute)))
	}
	busy := rsFor(d, "v0", 0, 0, t0)
	busy.Status.Replicas = 1 // still has a pod: never deleted
	objs = append(objs, busy, rsFor(d, "v5", 2, 5, t0.Add(time.Hour)))
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2}
	f := newFixture(t, append(objs, d)...)
	f.sync("web")
	var left []string
	for _, rs := range f.replicaSets() {
		left = append(left, rs.Spec.Template.Spec.Containers[0].Image)
	}
	if strings.Join(left, ",") != "v0,v3,v4,v5" {
		t.Fatalf("left %v", left)
	}
}

func TestProgressDeadline(t *testing.T) {
	d := newDeployment("web", 2, "v2")
	d.Spec.ProgressDeadlineSeconds = ptr(int32(60))
	old := rsFor(d, "v1", 2, 1, t0.Add(-time.Hour))
	f := newFixture(t, d, old)
	f.sync("web") // creates v2 with 1 replica (surge)
	f.settle(nil) // the new pod never becomes available
	f.sync("web")
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("progressing %+v", c)
	}
	if f.ctrl.queue.Len() != 0 {
		t.Fatal("unexpected immediate requeue")
	}
	f.clock.Step(61 * time.Second)
	f.sync("web")
	c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != TimedOutReason {
		t.Fatalf("progressing %+v", c)
	}
	if len(f.events.Events) != 0 {
		for len(f.events.Events) > 0 {
			if e := <-f.events.Events; strings.Contains(e, AutoRollbackReason) {
				t.Fatalf("rolled back without the annotation: %s", e)
			}
		}
	}
}

func TestAutoRollback(t *testing.T) {
	d := newDeployment("web", 2, "v1")
	d.Spec.ProgressDeadlineSeconds = ptr(int32(60))
	d.Annotations = map[string]string{AutoRollbackAnnotation: "true"}
	f := newFixture(t, d)
	// Revision 1 rolls out and becomes fully available.
	f.sync("web")
	prev := f.settle(nil)
	f.settle(prev)
	f.sync("web")
	if f.rsByImage("v1").Annotations[FullyAvailableAnnotation] != "true" {
		t.Fatal("revision 1 not marked fully available")
	}
	// Revision 2 never becomes available.
	d2 := f.deployment("web")
	d2.Spec.Template.Spec.Containers[0].Image = "v2"
	_, _ = f.client.AppsV1().Deployments("default").Update(context.Background(), d2, metav1.UpdateOptions{})
	f.sync("web")
	f.settle(nil)
	for _, rs := range f.replicaSets() { // keep v1 available
		if rs.Spec.Template.Spec.Containers[0].Image == "v1" {
			rs.Status.AvailableReplicas, rs.Status.ReadyReplicas = rsReplicas(rs), rsReplicas(rs)
			_, _ = f.client.AppsV1().ReplicaSets("default").UpdateStatus(context.Background(), rs, metav1.UpdateOptions{})
		}
	}
	f.sync("web")
	f.clock.Step(61 * time.Second)
	f.sync("web")
	got := f.deployment("web")
	if img := got.Spec.Template.Spec.Containers[0].Image; img != "v1" {
		t.Fatalf("template image %s after the deadline, want v1", img)
	}
	if _, ok := got.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Fatal("pod-template-hash leaked into the Deployment template")
	}
	found := false
	for len(f.events.Events) > 0 {
		e := <-f.events.Events
		if strings.HasPrefix(e, "Warning "+AutoRollbackReason) && strings.Contains(e, "revision 2") && strings.Contains(e, "revision 1") {
			found = true
		}
	}
	if !found {
		t.Fatal("no AutoRollback warning naming both revisions")
	}
	// The next sync reuses revision 1's ReplicaSet as revision 3 and does
	// not roll back again.
	f.sync("web")
	if rs := f.rsByImage("v1"); rs.Annotations[RevisionAnnotation] != "3" || rs.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Fatalf("rolled-back ReplicaSet annotations %v", rs.Annotations)
	}
	if c := getCondition(f.deployment("web").Status, appsv1.DeploymentProgressing); c == nil || c.Reason == TimedOutReason {
		t.Fatalf("progress clock not restarted: %+v", c)
	}
	for _, v := range f.verbs() {
		if v == "update deployments" {
			t.Fatal("rolled back twice")
		}
	}
	if a := f.rsByImage("v2").Annotations[FullyAvailableAnnotation]; a != "" {
		t.Fatal("failed revision marked available")
	}
}
