package daemonset

import (
	"context"
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
	"k8s.io/apimachinery/pkg/util/intstr"
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
	ds     []*appsv1.DaemonSet
	nodes  []*corev1.Node
	pods   []*corev1.Pod
	revs   []*appsv1.ControllerRevision
	ctrl   *Controller
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, clock: clocktesting.NewFakeClock(t0)}
}

func (f *fixture) start() *Controller {
	var objs []runtime.Object
	for _, o := range f.ds {
		objs = append(objs, o)
	}
	for _, o := range f.nodes {
		objs = append(objs, o)
	}
	for _, o := range f.pods {
		objs = append(objs, o)
	}
	for _, o := range f.revs {
		objs = append(objs, o)
	}
	f.client = fake.NewClientset(objs...)
	var n atomic.Int32
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%d", pod.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	inf := informers.NewSharedInformerFactory(f.client, 0)
	c := NewController(f.client, inf.Apps().V1().DaemonSets(), inf.Apps().V1().ControllerRevisions(),
		inf.Core().V1().Pods(), inf.Core().V1().Nodes(), f.clock)
	c.synced = func() bool { return true }
	c.recorder = record.NewFakeRecorder(100)
	for _, o := range f.ds {
		_ = inf.Apps().V1().DaemonSets().Informer().GetIndexer().Add(o)
	}
	for _, o := range f.nodes {
		_ = inf.Core().V1().Nodes().Informer().GetIndexer().Add(o)
	}
	for _, o := range f.pods {
		_ = inf.Core().V1().Pods().Informer().GetIndexer().Add(o)
	}
	for _, o := range f.revs {
		_ = inf.Apps().V1().ControllerRevisions().Informer().GetIndexer().Add(o)
	}
	f.ctrl = c
	return c
}

func (f *fixture) sync() time.Duration {
	f.t.Helper()
	f.client.ClearActions()
	after, err := f.ctrl.sync(context.Background(), "default/ds")
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return after
}

// actions returns "verb resource[/subresource]" per client call, sorted.
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

func (f *fixture) created() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if ca, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, ca.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if da, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, da.GetName())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) status() appsv1.DaemonSetStatus {
	f.t.Helper()
	for _, a := range f.client.Actions() {
		if ua, ok := a.(core.UpdateAction); ok && a.GetSubresource() == "status" {
			return ua.GetObject().(*appsv1.DaemonSet).Status
		}
	}
	f.t.Fatal("no status update")
	return appsv1.DaemonSetStatus{}
}

var nodeLabel = map[string]string{"role": "edge"}

func newDS(image string) *appsv1.DaemonSet {
	lbl := map[string]string{"app": "ds"}
	limit := int32(10)
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default", UID: "uid-ds", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{NodeSelector: nodeLabel, Containers: []corev1.Container{{Name: "c", Image: image}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}},
			RevisionHistoryLimit: &limit,
		},
	}
}

func ptr[T any](v T) *T { return &v }

type nodeOpt func(*corev1.Node)

func taint(key string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func unlabelled(n *corev1.Node) { n.Labels = nil }

func newNode(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"role": "edge"}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

// revisionOf returns the revision the controller would record for ds.
func revisionOf(t *testing.T, ds *appsv1.DaemonSet, number int64) *appsv1.ControllerRevision {
	t.Helper()
	patch, err := history.TemplatePatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	r := history.New(ds, controllerKind, ds.Spec.Template.Labels, patch, number)
	hash := history.Hash(r, ptr(int32(0)))
	r.Name = history.Name(ds.Name, hash)
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

func newPod(name, node, hash string, opts ...podOpt) *corev1.Pod {
	ds := newDS("")
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "default", UID: types.UID("uid-" + name),
		Labels:            map[string]string{"app": "ds", appsv1.DefaultDaemonSetUniqueLabelKey: hash},
		OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		CreationTimestamp: metav1.NewTime(t0.Add(-2 * time.Hour)),
	}, Spec: corev1.PodSpec{NodeName: node}}
	p.Status.Phase = corev1.PodPending
	for _, o := range opts {
		o(p)
	}
	return p
}
