package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// errWaiting requeues an owner whose dependents are still going away.
var errWaiting = errors.New("waiting for dependents")

// errNotSynced requeues work that needs the full set of dependents.
var errNotSynced = errors.New("garbage collector caches not synced yet")

// sync handles one object: gone → its dependents are rechecked; deleting
// with our finalizers → orphan or foreground processing; otherwise its
// owners are checked and it is collected when they are gone.
func (c *Controller) sync(ctx context.Context, ref objectRef) error {
	m := c.monitorFor(ref.Resource.GroupResource())
	if m == nil {
		return nil
	}
	item, exists, err := m.informer.GetIndexer().GetByKey(cache.NewObjectName(ref.Namespace, ref.Name).String())
	if err != nil {
		return err
	}
	obj, _ := item.(*metav1.PartialObjectMetadata)
	if !exists || obj == nil || obj.UID != ref.UID {
		for _, d := range c.dependents(ref, m.namespaced) {
			c.queue.Add(d.ref)
		}
		return nil
	}
	if obj.DeletionTimestamp != nil {
		switch {
		case hasFinalizer(obj, metav1.FinalizerOrphanDependents):
			return c.orphanDependents(ctx, ref, m.namespaced, obj)
		case hasFinalizer(obj, metav1.FinalizerDeleteDependents):
			return c.deleteDependents(ctx, ref, m.namespaced, obj)
		}
		return nil
	}
	if len(obj.OwnerReferences) == 0 {
		return nil
	}
	return c.attemptToDelete(ctx, ref, obj)
}

type ownerState int

const (
	ownerSolid   ownerState = iota // exists and is not waiting on dependents
	ownerGone                      // not found, or found with another UID
	ownerWaiting                   // being deleted in foreground
)

// attemptToDelete collects obj when none of its owners is left, and
// unlinks gone or foreground-deleting owners when some owner is alive.
func (c *Controller) attemptToDelete(ctx context.Context, ref objectRef, obj *metav1.PartialObjectMetadata) error {
	var solid, gone, waiting []types.UID
	for _, owner := range obj.OwnerReferences {
		state, err := c.ownerState(ctx, obj, owner)
		if err != nil {
			return err
		}
		switch state {
		case ownerSolid:
			solid = append(solid, owner.UID)
		case ownerGone:
			gone = append(gone, owner.UID)
		case ownerWaiting:
			waiting = append(waiting, owner.UID)
		}
	}
	logger := klog.FromContext(ctx)
	switch {
	case len(solid) > 0:
		if len(gone)+len(waiting) == 0 {
			return nil
		}
		logger.V(2).Info("Removing references to gone or deleting owners", "object", ref, "owners", append(gone, waiting...))
		return c.removeOwnerRefs(ctx, ref, obj, sets.New(append(gone, waiting...)...))
	case len(waiting) > 0 && c.hasBlockingDependents(ref, obj):
		// Its own blocking dependents must go first so the foreground
		// owner keeps waiting for the whole subtree.
		logger.V(2).Info("Deleting dependent in foreground", "object", ref)
		return c.deleteObject(ctx, ref, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(obj, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(obj, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		logger.V(2).Info("Deleting object whose owners are gone", "object", ref, "propagationPolicy", policy)
		return c.deleteObject(ctx, ref, policy)
	}
}

// ownerState looks owner up in the cache and confirms an absence with a
// live GET: an informer that has not seen a new owner yet must not get its
// dependents deleted.
func (c *Controller) ownerState(ctx context.Context, dep *metav1.PartialObjectMetadata, owner metav1.OwnerReference) (ownerState, error) {
	info, ok := c.resolve(owner)
	if !ok {
		// Unknown kind: leave the object alone, retry later (the kind may
		// be a CRD not yet in discovery), as upstream.
		return ownerSolid, fmt.Errorf("cannot resolve owner kind %s %s", owner.APIVersion, owner.Kind)
	}
	ns := ""
	if info.namespaced {
		if dep.Namespace == "" {
			// A cluster-scoped object cannot have a namespaced owner;
			// upstream never collects it.
			return ownerSolid, nil
		}
		ns = dep.Namespace
	}
	if m := c.monitorFor(info.gvr.GroupResource()); m != nil {
		if item, exists, _ := m.informer.GetIndexer().GetByKey(cache.NewObjectName(ns, owner.Name).String()); exists {
			if o, ok := item.(*metav1.PartialObjectMetadata); ok && o.UID == owner.UID {
				return stateOf(o), nil
			}
		}
	}
	live, err := c.metadataClient.Resource(info.gvr).Namespace(ns).Get(ctx, owner.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return ownerGone, nil
	case err != nil:
		return ownerSolid, err
	case live.UID != owner.UID:
		return ownerGone, nil
	}
	return stateOf(live), nil
}

func stateOf(owner *metav1.PartialObjectMetadata) ownerState {
	if owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents) {
		return ownerWaiting
	}
	return ownerSolid
}

// hasBlockingDependents reports whether some cached object names obj as an
// owner with blockOwnerDeletion=true.
func (c *Controller) hasBlockingDependents(ref objectRef, obj *metav1.PartialObjectMetadata) bool {
	m := c.monitorFor(ref.Resource.GroupResource())
	namespaced := m != nil && m.namespaced
	for _, d := range c.dependents(ref, namespaced) {
		if r := ownerRefFor(d.obj, obj.UID); r != nil && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

// deleteDependents drives a foreground deletion: every dependent is queued
// (to be deleted or unlinked); the finalizer goes once no blocking one is
// left.
func (c *Controller) deleteDependents(ctx context.Context, ref objectRef, namespaced bool, owner *metav1.PartialObjectMetadata) error {
	if !c.synced() {
		return errNotSynced
	}
	blocking := 0
	for _, d := range c.dependents(ref, namespaced) {
		c.queue.Add(d.ref)
		if r := ownerRefFor(d.obj, owner.UID); r != nil && r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion {
			blocking++
		}
	}
	if blocking > 0 {
		return fmt.Errorf("%w: %d blocking dependents of %s", errWaiting, blocking, ref.Name)
	}
	klog.FromContext(ctx).V(2).Info("No blocking dependents left, removing finalizer", "object", ref, "finalizer", metav1.FinalizerDeleteDependents)
	return c.removeFinalizer(ctx, ref, owner, metav1.FinalizerDeleteDependents)
}

// orphanDependents removes the references to owner from all its
// dependents, then the orphan finalizer from owner.
func (c *Controller) orphanDependents(ctx context.Context, ref objectRef, namespaced bool, owner *metav1.PartialObjectMetadata) error {
	if !c.synced() {
		return errNotSynced
	}
	for _, d := range c.dependents(ref, namespaced) {
		if err := c.removeOwnerRefs(ctx, d.ref, d.obj, sets.New(owner.UID)); err != nil {
			return fmt.Errorf("orphaning %s/%s: %w", d.ref.Resource.Resource, d.ref.Name, err)
		}
	}
	klog.FromContext(ctx).V(2).Info("Dependents orphaned, removing finalizer", "object", ref, "finalizer", metav1.FinalizerOrphanDependents)
	return c.removeFinalizer(ctx, ref, owner, metav1.FinalizerOrphanDependents)
}

// deleteObject deletes ref with policy; the UID precondition protects an
// object re-created under the same name.
func (c *Controller) deleteObject(ctx context.Context, ref objectRef, policy metav1.DeletionPropagation) error {
	uid := ref.UID
	err := c.metadataClient.Resource(ref.Resource).Namespace(ref.Namespace).Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// metadataPatch is a JSON merge patch on metadata. resourceVersion makes it
// conditional: lists are replaced whole, so a concurrent change must not be
// overwritten.
type metadataPatch struct {
	Metadata struct {
		ResourceVersion string                   `json:"resourceVersion"`
		OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
		Finalizers      *[]string                `json:"finalizers,omitempty"`
	} `json:"metadata"`
}

// patchMetadata applies the patch built by change from the cached object,
// and on conflict from a fresh GET. change returns nil when nothing is to
// be done.
func (c *Controller) patchMetadata(ctx context.Context, ref objectRef, cached *metav1.PartialObjectMetadata, change func(*metav1.PartialObjectMetadata) *metadataPatch) error {
	client := c.metadataClient.Resource(ref.Resource).Namespace(ref.Namespace)
	obj := cached
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if obj == nil {
			fresh, err := client.Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if fresh.UID != ref.UID {
				return nil
			}
			obj = fresh
		}
		p := change(obj)
		if p == nil {
			return nil
		}
		p.Metadata.ResourceVersion = obj.ResourceVersion
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		_, err = client.Patch(ctx, ref.Name, types.MergePatchType, data, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if apierrors.IsConflict(err) {
			obj = nil
		}
		return err
	})
}

func (c *Controller) removeOwnerRefs(ctx context.Context, ref objectRef, cached *metav1.PartialObjectMetadata, uids sets.Set[types.UID]) error {
	return c.patchMetadata(ctx, ref, cached, func(obj *metav1.PartialObjectMetadata) *metadataPatch {
		kept := []metav1.OwnerReference{}
		for _, r := range obj.OwnerReferences {
			if !uids.Has(r.UID) {
				kept = append(kept, *r.DeepCopy())
			}
		}
		if len(kept) == len(obj.OwnerReferences) {
			return nil
		}
		p := &metadataPatch{}
		p.Metadata.OwnerReferences = &kept
		return p
	})
}

func (c *Controller) removeFinalizer(ctx context.Context, ref objectRef, cached *metav1.PartialObjectMetadata, finalizer string) error {
	return c.patchMetadata(ctx, ref, cached, func(obj *metav1.PartialObjectMetadata) *metadataPatch {
		kept := []string{}
		for _, f := range obj.Finalizers {
			if f != finalizer {
				kept = append(kept, f)
			}
		}
		if len(kept) == len(obj.Finalizers) {
			return nil
		}
		p := &metadataPatch{}
		p.Metadata.Finalizers = &kept
		return p
	})
}

func hasFinalizer(obj *metav1.PartialObjectMetadata, f string) bool {
	for _, x := range obj.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}
