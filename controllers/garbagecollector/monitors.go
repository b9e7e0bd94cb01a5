package garbagecollector

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ownerUIDIndex indexes objects by the UIDs in their ownerReferences, so an
// owner finds its dependents without a graph.
const ownerUIDIndex = "ownerUID"

func indexByOwnerUID(obj interface{}) ([]string, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	refs := m.GetOwnerReferences()
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, string(r.UID))
	}
	return out, nil
}

// ignoredResources are never watched: events are not owners and are
// numerous; upstream skips them too.
var ignoredResources = sets.New(
	schema.GroupResource{Resource: "events"},
	schema.GroupResource{Group: "events.k8s.io", Resource: "events"},
)

// monitor is the metadata informer of one resource, at the group's
// preferred version.
type monitor struct {
	gvr        schema.GroupVersionResource
	namespaced bool
	informer   cache.SharedIndexInformer
	cancel     context.CancelFunc // nil until started
}

// kindInfo maps an owner's apiVersion/kind to its resource.
type kindInfo struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// resyncMonitors reads discovery and starts informers for new resources
// and stops those for resources no longer served. Informers are started
// only once Run has set c.runCtx, so tests can fill them by hand.
func (c *Controller) resyncMonitors(ctx context.Context) error {
	// The package function works for every DiscoveryInterface, fakes too.
	groups, lists, err := discovery.ServerGroupsAndResources(c.discovery)
	if err != nil && len(lists) == 0 {
		return fmt.Errorf("discovery: %w", err)
	}
	preferred := map[string]string{}
	for _, g := range groups {
		preferred[g.Name] = g.PreferredVersion.Version
	}
	kinds := map[schema.GroupVersionKind]kindInfo{}
	want := map[schema.GroupResource]kindInfo{}
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			info := kindInfo{gvr: gv.WithResource(r.Name), namespaced: r.Namespaced}
			kinds[gv.WithKind(r.Kind)] = info
			gr := info.gvr.GroupResource()
			if ignoredResources.Has(gr) || gv.Version != preferred[gv.Group] {
				continue
			}
			if sets.New[string](r.Verbs...).HasAll("list", "watch", "delete") {
				want[gr] = info
			}
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// Partial discovery: keep what we knew about the failed groups.
		for k, v := range c.kinds {
			if _, ok := kinds[k]; !ok {
				kinds[k] = v
			}
		}
	}
	c.kinds = kinds
	for gr, info := range want {
		if m, ok := c.monitors[gr]; ok && m.gvr == info.gvr {
			continue
		} else if ok {
			// Preferred version changed: watch the new one.
			c.stopMonitorLocked(gr)
		}
		c.monitors[gr] = c.newMonitor(info)
		klog.FromContext(ctx).V(2).Info("Garbage collector watching resource", "resource", info.gvr)
	}
	if err == nil {
		for gr := range c.monitors {
			if _, ok := want[gr]; !ok {
				c.stopMonitorLocked(gr)
				klog.FromContext(ctx).V(2).Info("Garbage collector no longer watching resource", "resource", gr)
			}
		}
	}
	if c.runCtx != nil {
		for _, m := range c.monitors {
			if m.cancel == nil {
				mctx, cancel := context.WithCancel(c.runCtx)
				m.cancel = cancel
				go m.informer.RunWithContext(mctx)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("partial discovery: %w", err)
	}
	return nil
}

func (c *Controller) newMonitor(info kindInfo) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(c.metadataClient, info.gvr, metav1.NamespaceAll, 0,
		cache.Indexers{ownerUIDIndex: indexByOwnerUID}, nil).Informer()
	// Only owner references and finalizers matter here; managedFields are
	// most of an object's metadata.
	_ = inf.SetTransform(func(obj interface{}) (interface{}, error) {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetManagedFields(nil)
		}
		return obj, nil
	})
	gvr := info.gvr
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.onAdd(gvr, obj) },
		UpdateFunc: func(old, obj interface{}) { c.onUpdate(gvr, old, obj) },
		DeleteFunc: func(obj interface{}) { c.onDelete(gvr, obj) },
	})
	return &monitor{gvr: gvr, namespaced: info.namespaced, informer: inf}
}

func (c *Controller) stopMonitorLocked(gr schema.GroupResource) {
	if m := c.monitors[gr]; m != nil && m.cancel != nil {
		m.cancel()
	}
	delete(c.monitors, gr)
}

func (c *Controller) stopMonitors() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for gr := range c.monitors {
		c.stopMonitorLocked(gr)
	}
}

// monitorsSynced reports whether every informer has listed once; until
// then "no dependents" may only mean "not seen yet".
func (c *Controller) monitorsSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range c.monitors {
		if !m.informer.HasSynced() {
			return false
		}
	}
	return true
}

func (c *Controller) monitorFor(gr schema.GroupResource) *monitor {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.monitors[gr]
}

// resolve finds the resource behind an ownerReference's apiVersion/kind.
func (c *Controller) resolve(ref metav1.OwnerReference) (kindInfo, bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return kindInfo{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	info, ok := c.kinds[gv.WithKind(ref.Kind)]
	if !ok {
		return kindInfo{}, false
	}
	// Owners are looked up in the watched version when there is one.
	if m := c.monitors[info.gvr.GroupResource()]; m != nil {
		info.gvr = m.gvr
	}
	return info, true
}

// dependent is an object found through the owner UID index.
type dependent struct {
	ref objectRef
	obj *metav1.PartialObjectMetadata
}

// dependents returns the cached objects that name owner in their
// ownerReferences. A namespaced owner only owns objects in its namespace
// (anything else points at an absent owner of the same name there).
func (c *Controller) dependents(owner objectRef, ownerNamespaced bool) []dependent {
	c.mu.RLock()
	monitors := make([]*monitor, 0, len(c.monitors))
	for _, m := range c.monitors {
		monitors = append(monitors, m)
	}
	c.mu.RUnlock()

	var out []dependent
	for _, m := range monitors {
		objs, err := m.informer.GetIndexer().ByIndex(ownerUIDIndex, string(owner.UID))
		if err != nil {
			continue
		}
		for _, o := range objs {
			pm, ok := o.(*metav1.PartialObjectMetadata)
			if !ok {
				continue
			}
			if ownerNamespaced && pm.Namespace != owner.Namespace {
				continue
			}
			out = append(out, dependent{ref: refFor(m.gvr, pm), obj: pm})
		}
	}
	return out
}

func refFor(gvr schema.GroupVersionResource, m metav1.Object) objectRef {
	return objectRef{Resource: gvr, Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()}
}

// ownerRefFor returns dep's reference to the owner with uid, if any.
func ownerRefFor(dep metav1.Object, uid types.UID) *metav1.OwnerReference {
	refs := dep.GetOwnerReferences()
	for i := range refs {
		if refs[i].UID == uid {
			return &refs[i]
		}
	}
	return nil
}
