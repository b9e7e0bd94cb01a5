package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	core "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nodesGVR       = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	allVerbs       = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

func discoveryResources() []*metav1.APIResourceList {
	return []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: allVerbs},
			{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: allVerbs},
			{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: allVerbs},
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: allVerbs},
			{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: allVerbs},
			{Name: "replicasets", Namespaced: true, Kind: "ReplicaSet", Verbs: allVerbs},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{
			{Name: "events", Namespaced: true, Kind: "Event", Verbs: allVerbs},
		}},
	}
}

type fixture struct {
	t      *testing.T
	client *metadatafake.FakeMetadataClient
	disco  *fakediscovery.FakeDiscovery
	c      *Controller
}

// object is one stored object; inCache=false leaves it out of the informer
// cache to model an informer that has not seen it yet.
type object struct {
	gvr     schema.GroupVersionResource
	obj     *metav1.PartialObjectMetadata
	inCache bool
}

func newFixture(t *testing.T, objects ...object) *fixture {
	f := &fixture{t: t}
	f.client = metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	f.disco = &fakediscovery.FakeDiscovery{Fake: &core.Fake{Resources: discoveryResources()}}
	c, err := NewController(f.client, f.disco, testingclock.NewFakeClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	c.synced = func() bool { return true }
	f.c = c
	if err := c.resyncMonitors(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		if err := f.client.Tracker().Create(o.gvr, o.obj, o.obj.Namespace); err != nil {
			t.Fatal(err)
		}
		if o.inCache {
			if err := c.monitors[o.gvr.GroupResource()].informer.GetIndexer().Add(o.obj); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// forget removes an object from the server and the cache, as a completed
// deletion would.
func (f *fixture) forget(gvr schema.GroupVersionResource, ns, name string) {
	indexer := f.c.monitors[gvr.GroupResource()].informer.GetIndexer()
	obj, ok, _ := indexer.GetByKey(ns + "/" + name)
	if !ok {
		f.t.Fatalf("%s %s/%s not cached", gvr.Resource, ns, name)
	}
	if err := indexer.Delete(obj); err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.Tracker().Delete(gvr, ns, name); err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
}

// queued drains the queue without blocking.
func (f *fixture) queued() map[objectRef]bool {
	out := map[objectRef]bool{}
	for f.c.queue.Len() > 0 {
		ref, _ := f.c.queue.Get()
		f.c.queue.Done(ref)
		out[ref] = true
	}
	return out
}

func (f *fixture) get(gvr schema.GroupVersionResource, ns, name string) *metav1.PartialObjectMetadata {
	obj, err := f.client.Tracker().Get(gvr, ns, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*metav1.PartialObjectMetadata)
}

func (f *fixture) sync(gvr schema.GroupVersionResource, o *metav1.PartialObjectMetadata) error {
	return f.c.sync(context.Background(), refFor(gvr, o))
}

// writes renders the client's mutating actions, in order, as
// "delete pods ns/name Background" or "patch pods ns/name {patch}".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		switch a := a.(type) {
		case core.DeleteActionImpl:
			opts := a.GetDeleteOptions()
			if opts.Preconditions == nil || opts.Preconditions.UID == nil {
				f.t.Errorf("delete of %s without UID precondition", a.GetName())
			}
			out = append(out, fmt.Sprintf("delete %s %s/%s %s", a.GetResource().Resource, a.GetNamespace(), a.GetName(), *opts.PropagationPolicy))
		case core.PatchActionImpl:
			if a.GetPatchType() != types.MergePatchType {
				f.t.Errorf("patch type %s", a.GetPatchType())
			}
			var p struct {
				Metadata map[string]json.RawMessage `json:"metadata"`
			}
			if err := json.Unmarshal(a.GetPatch(), &p); err != nil {
				f.t.Fatal(err)
			}
			if _, ok := p.Metadata["resourceVersion"]; !ok {
				f.t.Errorf("unconditional patch %s", a.GetPatch())
			}
			delete(p.Metadata, "resourceVersion")
			b, _ := json.Marshal(p.Metadata)
			out = append(out, fmt.Sprintf("patch %s %s/%s %s", a.GetResource().Resource, a.GetNamespace(), a.GetName(), b))
		case core.CreateActionImpl, core.UpdateActionImpl:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func (f *fixture) expectWrites(want ...string) {
	f.t.Helper()
	got := f.writes()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Errorf("writes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func objMeta(ns, name, uid string, owners ...metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: "1", OwnerReferences: owners}}
}

func deleting(o *metav1.PartialObjectMetadata, finalizers ...string) *metav1.PartialObjectMetadata {
	ts := metav1.Now()
	o.DeletionTimestamp = &ts
	o.Finalizers = finalizers
	return o
}

func ownedBy(apiVersion, kind, name, uid string, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), BlockOwnerDeletion: &block}
}

func rsRef(name, uid string, block bool) metav1.OwnerReference {
	return ownedBy("apps/v1", "ReplicaSet", name, uid, block)
}

func cached(gvr schema.GroupVersionResource, o *metav1.PartialObjectMetadata) object {
	return object{gvr: gvr, obj: o, inCache: true}
}

func TestBackground(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects []object
		wantErr bool
		want    []string
	}{{
		name: "owner gone: dependent deleted in background",
		objects: []object{
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true))),
		},
		want: []string{"delete pods a/p Background"},
	}, {
		name: "owner re-created with another UID counts as gone",
		objects: []object{
			cached(replicaSetsGVR, objMeta("a", "rs", "rs2")),
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true))),
		},
		want: []string{"delete pods a/p Background"},
	}, {
		name: "owner exists",
		objects: []object{
			cached(replicaSetsGVR, objMeta("a", "rs", "rs1")),
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true))),
		},
	}, {
		name: "owner not yet in the cache: live GET finds it",
		objects: []object{
			{gvr: replicaSetsGVR, obj: objMeta("a", "rs", "rs1")},
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true))),
		},
	}, {
		name: "namespaced owner only counts in the dependent's namespace",
		objects: []object{
			cached(replicaSetsGVR, objMeta("b", "rs", "rs1")),
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true))),
		},
		want: []string{"delete pods a/p Background"},
	}, {
		name: "cluster-scoped owner of a namespaced dependent exists",
		objects: []object{
			cached(nodesGVR, objMeta("", "n", "n1")),
			cached(podsGVR, objMeta("a", "p", "p1", ownedBy("v1", "Node", "n", "n1", false))),
		},
	}, {
		name: "cluster-scoped owner gone",
		objects: []object{
			cached(podsGVR, objMeta("a", "p", "p1", ownedBy("v1", "Node", "n", "n1", false))),
		},
		want: []string{"delete pods a/p Background"},
	}, {
		name: "one owner left: only the dangling reference is removed",
		objects: []object{
			cached(configMapsGVR, objMeta("a", "cm", "cm1")),
			cached(podsGVR, objMeta("a", "p", "p1", rsRef("rs", "rs1", true), ownedBy("v1", "ConfigMap", "cm", "cm1", false))),
		},
		want: []string{`patch pods a/p {"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"cm","uid":"cm1","blockOwnerDeletion":false}]}`},
	}, {
		name: "dependent asking to orphan its own dependents keeps that policy",
		objects: []object{
			cached(replicaSetsGVR, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "rs", UID: "rs1",
				Finalizers: []string{metav1.FinalizerOrphanDependents}, OwnerReferences: []metav1.OwnerReference{ownedBy("apps/v1", "Deployment", "d", "d1", true)}}}),
		},
		want: []string{"delete replicasets a/rs Orphan"},
	}, {
		name: "unknown owner kind is left alone and retried",
		objects: []object{
			cached(podsGVR, objMeta("a", "p", "p1", ownedBy("example.com/v1", "Widget", "w", "w1", false))),
		},
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objects...)
			pod := tc.objects[len(tc.objects)-1]
			err := f.sync(pod.gvr, pod.obj)
			if (err != nil) != tc.wantErr {
				t.Fatalf("sync error %v, wantErr %v", err, tc.wantErr)
			}
			f.expectWrites(tc.want...)
		})
	}
}

func TestForeground(t *testing.T) {
	d := deleting(objMeta("a", "d", "d1"), metav1.FinalizerDeleteDependents)
	rs := objMeta("a", "rs", "rs1", ownedBy("apps/v1", "Deployment", "d", "d1", true))
	pod := objMeta("a", "p", "p1", rsRef("rs", "rs1", true))
	cm := objMeta("a", "cm", "cm1", ownedBy("apps/v1", "Deployment", "d", "d1", false))
	shared := objMeta("a", "shared", "s1", ownedBy("apps/v1", "Deployment", "d", "d1", true), ownedBy("v1", "ConfigMap", "cm", "cm1", false))
	f := newFixture(t, cached(deploymentsGVR, d), cached(replicaSetsGVR, rs), cached(podsGVR, pod),
		cached(configMapsGVR, cm), cached(configMapsGVR, shared))

	// The owner waits and queues its dependents.
	if err := f.sync(deploymentsGVR, d); !errors.Is(err, errWaiting) {
		t.Fatalf("owner sync: %v, want waiting", err)
	}
	f.expectWrites()
	if q := f.queued(); len(q) != 3 || !q[refFor(replicaSetsGVR, rs)] {
		t.Errorf("queued %v, want the 3 dependents", q)
	}

	// A dependent with blocking dependents goes in foreground, one without
	// in background, one with another live owner is unlinked.
	for _, o := range []object{cached(replicaSetsGVR, rs), cached(configMapsGVR, cm), cached(configMapsGVR, shared)} {
		if err := f.sync(o.gvr, o.obj); err != nil {
			t.Fatal(err)
		}
	}
	f.expectWrites(
		"delete replicasets a/rs Foreground",
		"delete configmaps a/cm Background",
		`patch configmaps a/shared {"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"cm","uid":"cm1","blockOwnerDeletion":false}]}`,
	)

	// Still waiting while the blocking replica set exists.
	f.client.ClearActions()
	f.forget(configMapsGVR, "a", "cm")
	f.forget(configMapsGVR, "a", "shared")
	if err := f.sync(deploymentsGVR, d); !errors.Is(err, errWaiting) {
		t.Fatalf("owner sync: %v, want waiting", err)
	}
	f.expectWrites()

	// Once it is gone the finalizer is removed.
	f.forget(replicaSetsGVR, "a", "rs")
	if err := f.sync(deploymentsGVR, d); err != nil {
		t.Fatal(err)
	}
	f.expectWrites(`patch deployments a/d {"finalizers":[]}`)
	if got := f.get(deploymentsGVR, "a", "d").Finalizers; len(got) != 0 {
		t.Errorf("finalizers %v", got)
	}
}

func TestOrphan(t *testing.T) {
	rs := deleting(objMeta("a", "rs", "rs1"), metav1.FinalizerOrphanDependents, "example.com/keep")
	p1 := objMeta("a", "p1", "p1", rsRef("rs", "rs1", true))
	p2 := objMeta("a", "p2", "p2", ownedBy("v1", "ConfigMap", "cm", "cm1", false), rsRef("rs", "rs1", true))
	other := objMeta("b", "p3", "p3", rsRef("rs", "rs1", true))
	f := newFixture(t, cached(replicaSetsGVR, rs), cached(podsGVR, p1), cached(podsGVR, p2), cached(podsGVR, other))

	f.c.synced = func() bool { return false }
	if err := f.sync(replicaSetsGVR, rs); !errors.Is(err, errNotSynced) {
		t.Fatalf("sync before caches synced: %v", err)
	}
	f.expectWrites()

	f.c.synced = func() bool { return true }
	if err := f.sync(replicaSetsGVR, rs); err != nil {
		t.Fatal(err)
	}
	writes := f.writes()
	if len(writes) != 3 || writes[2] != `patch replicasets a/rs {"finalizers":["example.com/keep"]}` {
		t.Fatalf("writes %v", writes)
	}
	if refs := f.get(podsGVR, "a", "p1").OwnerReferences; len(refs) != 0 {
		t.Errorf("p1 still owned: %v", refs)
	}
	if refs := f.get(podsGVR, "a", "p2").OwnerReferences; len(refs) != 1 || refs[0].UID != "cm1" {
		t.Errorf("p2 owners %v, want only the config map", refs)
	}
	if refs := f.get(podsGVR, "b", "p3").OwnerReferences; len(refs) != 1 {
		t.Errorf("pod in another namespace was changed: %v", refs)
	}
}

func TestPatchRetriesOnConflict(t *testing.T) {
	rs := deleting(objMeta("a", "rs", "rs1"), metav1.FinalizerOrphanDependents)
	f := newFixture(t, cached(replicaSetsGVR, rs))
	conflicts := 1
	f.client.PrependReactor("patch", "replicasets", func(core.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(replicaSetsGVR.GroupResource(), "rs", errors.New("stale"))
		}
		return false, nil, nil
	})
	if err := f.sync(replicaSetsGVR, rs); err != nil {
		t.Fatal(err)
	}
	if got := f.get(replicaSetsGVR, "a", "rs").Finalizers; len(got) != 0 {
		t.Errorf("finalizers %v", got)
	}
}

func TestDiscoveryRefresh(t *testing.T) {
	f := newFixture(t)
	has := func(gr schema.GroupResource) bool { return f.c.monitorFor(gr) != nil }
	for _, gr := range []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}, {Resource: "bindings"}} {
		if has(gr) {
			t.Errorf("%s watched", gr)
		}
	}
	if !has(podsGVR.GroupResource()) || !has(nodesGVR.GroupResource()) {
		t.Fatal("pods or nodes not watched")
	}

	f.disco.Resources = append(f.disco.Resources, &metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Namespaced: true, Kind: "Widget", Verbs: allVerbs},
	}})
	f.disco.Resources[1] = &metav1.APIResourceList{GroupVersion: "apps/v1"}
	if err := f.c.resyncMonitors(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !has(schema.GroupResource{Group: "example.com", Resource: "widgets"}) {
		t.Error("new resource not watched")
	}
	if has(replicaSetsGVR.GroupResource()) {
		t.Error("removed resource still watched")
	}
	if _, ok := f.c.resolve(ownedBy("example.com/v1", "Widget", "w", "w1", false)); !ok {
		t.Error("new kind not resolvable")
	}
}

func TestEventsQueueDependentsAndOwners(t *testing.T) {
	rs := objMeta("a", "rs", "rs1")
	pod := objMeta("a", "p", "p1", rsRef("rs", "rs1", true))
	f := newFixture(t, cached(podsGVR, pod))

	// A deleted owner is queued; its sync queues the dependents.
	f.c.onDelete(replicaSetsGVR, rs)
	q := f.queued()
	if len(q) != 1 || !q[refFor(replicaSetsGVR, rs)] {
		t.Fatalf("queued %v, want the owner", q)
	}
	if err := f.sync(replicaSetsGVR, rs); err != nil {
		t.Fatal(err)
	}
	if q := f.queued(); len(q) != 1 || !q[refFor(podsGVR, pod)] {
		t.Errorf("queued %v, want the dependent", q)
	}

	// A deleted dependent queues itself and its owner.
	f.c.onDelete(podsGVR, pod)
	if q := f.queued(); len(q) != 2 || !q[refFor(replicaSetsGVR, rs)] {
		t.Errorf("queued %v, want the pod and its owner", q)
	}

	// A new dependent is queued, an object without owners is not.
	f.c.onAdd(podsGVR, pod)
	f.c.onAdd(podsGVR, objMeta("a", "lonely", "l1"))
	if q := f.queued(); len(q) != 1 {
		t.Errorf("queued %v, want the new dependent only", q)
	}
}

// TestRun drives the controller with running informers against the fake
// client: a dangling dependent is collected, a dependent with a live owner
// stays.
func TestRun(t *testing.T) {
	client := metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())
	for _, o := range []object{
		{gvr: replicaSetsGVR, obj: objMeta("a", "rs", "rs1")},
		{gvr: podsGVR, obj: objMeta("a", "kept", "p1", rsRef("rs", "rs1", true))},
		{gvr: podsGVR, obj: objMeta("a", "dangling", "p2", rsRef("gone", "rs0", true))},
	} {
		if err := client.Tracker().Create(o.gvr, o.obj, o.obj.Namespace); err != nil {
			t.Fatal(err)
		}
	}
	disco := &fakediscovery.FakeDiscovery{Fake: &core.Fake{Resources: discoveryResources()}}
	c, err := NewController(client, disco, testingclock.NewFakeClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, 2)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := client.Tracker().Get(podsGVR, "a", "dangling")
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dangling pod not collected: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := client.Tracker().Get(podsGVR, "a", "kept"); err != nil {
		t.Errorf("pod with a live owner: %v", err)
	}
}
