package statefulset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"corral/controllers/history"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture follows sample-controller: objects go into the fake clientset
// and, by hand, into the informer indexers; informers never run.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	set    *appsv1.StatefulSet
	pods   []*corev1.Pod
	pvcs   []*corev1.PersistentVolumeClaim
	revs   []*appsv1.ControllerRevision
	ctrl   *Controller
}

func newFixture(t *testing.T, set *appsv1.StatefulSet) *fixture {
	return &fixture{t: t, clock: clocktesting.NewFakeClock(t0), set: set}
}

func (f *fixture) start() {
	objs := []runtime.Object{f.set}
	for _, o := range f.pods {
		objs = append(objs, o)
	}
	for _, o := range f.pvcs {
		objs = append(objs, o)
	}
	for _, o := range f.revs {
		objs = append(objs, o)
	}
	f.client = fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(f.client, 0)
	c := NewController(f.client, inf.Apps().V1().StatefulSets(), inf.Apps().V1().ControllerRevisions(),
		inf.Core().V1().Pods(), inf.Core().V1().PersistentVolumeClaims(), f.clock)
	c.synced = func() bool { return true }
	c.recorder = record.NewFakeRecorder(100)
	_ = inf.Apps().V1().StatefulSets().Informer().GetIndexer().Add(f.set)
	for _, o := range f.pods {
		_ = inf.Core().V1().Pods().Informer().GetIndexer().Add(o)
	}
	for _, o := range f.pvcs {
		_ = inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
	}
	for _, o := range f.revs {
		_ = inf.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
	}
	f.ctrl = c
}

func (f *fixture) sync() {
	f.t.Helper()
	f.start()
	if _, err := f.ctrl.sync(context.Background(), "default/db"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// calls returns "verb resource[/sub] name" per client call, in order.
func (f *fixture) calls(verb, resource string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() != verb || a.GetResource().Resource != resource {
			continue
		}
		switch a := a.(type) {
		case core.CreateAction:
			out = append(out, a.GetObject().(metav1.Object).GetName())
		case core.DeleteAction:
			out = append(out, a.GetName())
		case core.UpdateAction:
			out = append(out, a.GetObject().(metav1.Object).GetName())
		case core.PatchAction:
			out = append(out, a.GetName())
		}
	}
	return out
}

func (f *fixture) expect(verb, resource string, want ...string) {
	f.t.Helper()
	got := f.calls(verb, resource)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		f.t.Fatalf("%s %s: got %v, want %v", verb, resource, got, want)
	}
}

func (f *fixture) createdPod(name string) *corev1.Pod {
	f.t.Helper()
	for _, a := range f.client.Actions() {
		if ca, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "pods" {
			if p := ca.GetObject().(*corev1.Pod); p.Name == name {
				return p
			}
		}
	}
	f.t.Fatalf("pod %s not created", name)
	return nil
}

func (f *fixture) status() appsv1.StatefulSetStatus {
	f.t.Helper()
	for _, a := range f.client.Actions() {
		if ua, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			return ua.GetObject().(*appsv1.StatefulSet).Status
		}
	}
	f.t.Fatal("no status update")
	return appsv1.StatefulSetStatus{}
}

func ptr[T any](v T) *T { return &v }

func newSet(replicas int32, image string) *appsv1.StatefulSet {
	lbl := map[string]string{"app": "db"}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "uid-db", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         "db-svc",
			Selector:            &metav1.LabelSelector{MatchLabels: lbl},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(0))}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
}

// revisionOf returns the revision the controller records for set.
func revisionOf(t *testing.T, set *appsv1.StatefulSet, number int64) *appsv1.ControllerRevision {
	t.Helper()
	patch, err := history.TemplatePatch(set)
	if err != nil {
		t.Fatal(err)
	}
	r := history.New(set, controllerKind, set.Spec.Template.Labels, patch, number)
	hash := history.Hash(r, ptr(int32(0)))
	r.Name = history.Name(set.Name, hash)
	r.Labels[history.HashLabel] = hash
	r.UID = types.UID("uid-" + r.Name)
	return r
}

type podOpt func(*corev1.Pod)

func ready(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
}

func failed(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }

func deleting(p *corev1.Pod) { p.DeletionTimestamp = ptr(metav1.NewTime(t0)) }

// pod builds the pod the controller would have created at rev.
func pod(set *appsv1.StatefulSet, ordinal int, rev *appsv1.ControllerRevision, opts ...podOpt) *corev1.Pod {
	p := newPod(set, ordinal, rev.Name)
	p.UID = types.UID(fmt.Sprintf("uid-%s-%s", p.Name, rev.Name))
	p.Status.Phase = corev1.PodPending
	for _, o := range opts {
		o(p)
	}
	return p
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
