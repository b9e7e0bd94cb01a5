package namespace

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	core "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	leasesGVR      = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	listKind       = schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}
	allVerbs       = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

type fixture struct {
	t        *testing.T
	kube     *fake.Clientset
	metadata *metadatafake.FakeMetadataClient
	disco    *fakediscovery.FakeDiscovery
	clock    *testingclock.FakeClock
	c        *Controller
}

func newFixture(t *testing.T, ns *corev1.Namespace) *fixture {
	f := &fixture{t: t, clock: testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	f.kube = fake.NewClientset(ns)
	f.metadata = metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	// The fake tracker has no deletecollection; emulate the server.
	f.metadata.PrependReactor("delete-collection", "*", func(action core.Action) (bool, runtime.Object, error) {
		for _, obj := range f.list(action.GetResource(), action.GetNamespace()) {
			m, _ := meta.Accessor(obj)
			if err := f.metadata.Tracker().Delete(action.GetResource(), m.GetNamespace(), m.GetName()); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	f.disco = &fakediscovery.FakeDiscovery{Fake: &core.Fake{}}
	f.disco.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: allVerbs},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: allVerbs},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: allVerbs},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: allVerbs},
		}},
		// No deletecollection: emptied by list and delete.
		{GroupVersion: "coordination.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "leases", Namespaced: true, Kind: "Lease", Verbs: metav1.Verbs{"delete", "get", "list", "watch"}},
		}},
	}
	factory := informers.NewSharedInformerFactory(f.kube, 0)
	nsInformer := factory.Core().V1().Namespaces()
	f.c = NewController(f.kube, f.metadata, f.disco, nsInformer)
	f.c.clock = f.clock
	if err := nsInformer.Informer().GetIndexer().Add(ns); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) list(gvr schema.GroupVersionResource, ns string) []runtime.Object {
	obj, err := f.metadata.Tracker().List(gvr, listKind, ns)
	if err != nil {
		f.t.Fatal(err)
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		f.t.Fatal(err)
	}
	return items
}

func (f *fixture) add(gvr schema.GroupVersionResource, ns, name string) {
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
	if err := f.metadata.Tracker().Create(gvr, obj, ns); err != nil {
		f.t.Fatal(err)
	}
}

// kubeVerbs returns the clientset's actions as "verb resource[/subresource]".
func (f *fixture) kubeVerbs() []string {
	var out []string
	for _, a := range f.kube.Actions() {
		if a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	return out
}

func terminating(name string, finalizers ...corev1.FinalizerName) *corev1.Namespace {
	ts := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: "ns-uid", DeletionTimestamp: &ts},
		Spec:       corev1.NamespaceSpec{Finalizers: finalizers},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

func equal(a, b []string) bool {
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

func TestTerminatingNamespaceIsEmptiedFinalizedAndDeleted(t *testing.T) {
	f := newFixture(t, terminating("team", corev1.FinalizerKubernetes))
	f.add(podsGVR, "team", "web")
	f.add(configMapsGVR, "team", "cfg")
	f.add(deploymentsGVR, "team", "web")
	f.add(leasesGVR, "team", "lock")
	f.add(podsGVR, "other", "keep")

	if err := f.c.sync(context.Background(), "team"); err != nil {
		t.Fatalf("sync: %v", err)
	}

	for _, gvr := range []schema.GroupVersionResource{podsGVR, configMapsGVR, deploymentsGVR, leasesGVR} {
		if left := f.list(gvr, "team"); len(left) != 0 {
			t.Errorf("%s left in namespace: %d", gvr.Resource, len(left))
		}
	}
	if left := f.list(podsGVR, "other"); len(left) != 1 {
		t.Errorf("pod in another namespace was touched")
	}
	var collections, deletes []string
	for _, a := range f.metadata.Actions() {
		switch a := a.(type) {
		case core.DeleteCollectionActionImpl:
			if a.GetNamespace() != "team" {
				t.Errorf("deletecollection outside the namespace: %v", a)
			}
			collections = append(collections, a.GetResource().Resource)
		case core.DeleteActionImpl:
			deletes = append(deletes, a.GetResource().Resource+"/"+a.GetName())
			if p := a.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
				t.Errorf("delete without background propagation: %v", a)
			}
		}
	}
	if want := []string{"configmaps", "pods", "deployments"}; !equal(collections, want) {
		t.Errorf("deletecollection on %v, want %v", collections, want)
	}
	if want := []string{"leases/lock"}; !equal(deletes, want) {
		t.Errorf("deletes %v, want %v", deletes, want)
	}

	want := []string{"update namespaces/status", "create namespaces/finalize", "delete namespaces"}
	if got := f.kubeVerbs(); !equal(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	fin := f.kube.Actions()[1].(core.CreateAction).GetObject().(*corev1.Namespace)
	if len(fin.Spec.Finalizers) != 0 {
		t.Errorf("finalize left %v", fin.Spec.Finalizers)
	}
	del := f.kube.Actions()[2].(core.DeleteAction)
	if pre := del.GetDeleteOptions().Preconditions; pre == nil || pre.UID == nil || *pre.UID != "ns-uid" {
		t.Errorf("second delete without UID precondition: %+v", del.GetDeleteOptions())
	}
	status := f.kube.Actions()[0].(core.UpdateAction).GetObject().(*corev1.Namespace)
	if i := conditionIndex(status.Status.Conditions, corev1.NamespaceContentRemaining); i < 0 || status.Status.Conditions[i].Status != corev1.ConditionFalse {
		t.Errorf("conditions %+v", status.Status.Conditions)
	}
}

func TestContentRemainingIsRequeuedNotFinalized(t *testing.T) {
	f := newFixture(t, terminating("team", corev1.FinalizerKubernetes))
	f.add(podsGVR, "team", "web")
	// Pods go away after their grace period: the server only marks them.
	f.metadata.PrependReactor("delete-collection", "pods", func(action core.Action) (bool, runtime.Object, error) {
		for _, obj := range f.list(podsGVR, action.GetNamespace()) {
			p := obj.(*metav1.PartialObjectMetadata)
			ts := metav1.NewTime(f.clock.Now().Add(30 * time.Second))
			grace := int64(30)
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &grace
			if err := f.metadata.Tracker().Update(podsGVR, p, p.Namespace); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})

	err := f.c.sync(context.Background(), "team")
	var remaining *contentRemainingError
	if !errors.As(err, &remaining) {
		t.Fatalf("sync returned %v, want content remaining", err)
	}
	if remaining.count != 1 || remaining.estimate != 30*time.Second {
		t.Errorf("remaining %+v, want 1 object and 30s", remaining)
	}
	if want := []string{"update namespaces/status"}; !equal(f.kubeVerbs(), want) {
		t.Errorf("actions %v, want %v (no finalize, no delete)", f.kubeVerbs(), want)
	}
	status := f.kube.Actions()[0].(core.UpdateAction).GetObject().(*corev1.Namespace)
	i := conditionIndex(status.Status.Conditions, corev1.NamespaceContentRemaining)
	if i < 0 || status.Status.Conditions[i].Status != corev1.ConditionTrue ||
		status.Status.Conditions[i].Message != "Some resources are remaining: pods has 1 resource instances" {
		t.Errorf("conditions %+v", status.Status.Conditions)
	}

	// Through the queue: requeued with backoff, not forgotten.
	f.c.queue.Add("team")
	f.c.processNextItem(context.Background())
	if n := f.c.queue.NumRequeues("team"); n != 1 {
		t.Errorf("requeues %d, want 1", n)
	}
	for _, v := range f.kubeVerbs() {
		if v == "create namespaces/finalize" {
			t.Errorf("namespace finalized with content remaining")
		}
	}
}

func TestDeletionFailureKeepsFinalizer(t *testing.T) {
	f := newFixture(t, terminating("team", corev1.FinalizerKubernetes))
	f.metadata.PrependReactor("delete-collection", "configmaps", func(core.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("boom")
	})
	if err := f.c.sync(context.Background(), "team"); err == nil {
		t.Fatal("sync succeeded despite a failed deletecollection")
	}
	if want := []string{"update namespaces/status"}; !equal(f.kubeVerbs(), want) {
		t.Errorf("actions %v, want %v", f.kubeVerbs(), want)
	}
}

func TestAlreadyFinalizedNamespaceIsDeleted(t *testing.T) {
	f := newFixture(t, terminating("team"))
	if err := f.c.sync(context.Background(), "team"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"delete namespaces"}; !equal(f.kubeVerbs(), want) {
		t.Errorf("actions %v, want %v", f.kubeVerbs(), want)
	}
	if n := len(f.metadata.Actions()); n != 0 {
		t.Errorf("%d metadata actions for a finalized namespace", n)
	}
}

func TestActiveNamespaceIsLeftAlone(t *testing.T) {
	ns := terminating("team", corev1.FinalizerKubernetes)
	ns.DeletionTimestamp = nil
	ns.Status.Phase = corev1.NamespaceActive
	f := newFixture(t, ns)
	f.add(podsGVR, "team", "web")
	if err := f.c.sync(context.Background(), "team"); err != nil {
		t.Fatal(err)
	}
	if len(f.kubeVerbs()) != 0 || len(f.metadata.Actions()) != 0 {
		t.Errorf("unexpected actions %v %v", f.kubeVerbs(), f.metadata.Actions())
	}
	f.c.enqueue(ns)
	if f.c.queue.Len() != 0 {
		t.Errorf("active namespace queued")
	}
}
