package history

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
)

// History reads revisions from an informer cache and writes them through
// the API.
type History struct {
	client kubernetes.Interface
	lister appslisters.ControllerRevisionLister
}

// NewHistory returns a History over client and a ControllerRevision lister.
func NewHistory(client kubernetes.Interface, lister appslisters.ControllerRevisionLister) *History {
	return &History{client: client, lister: lister}
}

// Claim returns the revisions of parent: those it controls that match
// selector, plus matching orphans, which it adopts. Controlled revisions
// that no longer match are released. canAdopt is asked once, before the
// first adoption, whether parent (re-read from the API) may still adopt.
// The returned revisions come from the cache and must not be modified.
func (h *History) Claim(ctx context.Context, parent metav1.Object, kind schema.GroupVersionKind, selector labels.Selector,
	canAdopt func(ctx context.Context) error) ([]*appsv1.ControllerRevision, error) {
	all, err := h.lister.ControllerRevisions(parent.GetNamespace()).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ControllerRevision
	var errs []error
	var adoptErr error
	adoptChecked := false
	deleting := parent.GetDeletionTimestamp() != nil
	for _, rev := range all {
		match := selector.Matches(labels.Set(rev.Labels))
		if ref := metav1.GetControllerOf(rev); ref != nil {
			if ref.UID != parent.GetUID() {
				continue
			}
			if match {
				owned = append(owned, rev)
			} else if !deleting {
				errs = append(errs, h.patch(ctx, rev, releasePatch(parent.GetUID(), rev.UID)))
			}
			continue
		}
		if !match || deleting || rev.DeletionTimestamp != nil {
			continue
		}
		if !adoptChecked {
			adoptChecked = true
			if canAdopt != nil {
				adoptErr = canAdopt(ctx)
				errs = append(errs, adoptErr)
			}
		}
		if adoptErr != nil {
			continue
		}
		if err := h.patch(ctx, rev, adoptPatch(parent, kind, rev.UID)); err != nil {
			errs = append(errs, err)
			continue
		}
		owned = append(owned, rev)
	}
	return owned, utilerrors.NewAggregate(errs)
}

// patch applies an ownerReferences patch; a revision that vanished or was
// replaced (the uid precondition fails) is not an error.
func (h *History) patch(ctx context.Context, rev *appsv1.ControllerRevision, patch []byte) error {
	_, err := h.client.AppsV1().ControllerRevisions(rev.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

func adoptPatch(parent metav1.Object, kind schema.GroupVersionKind, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(parent, kind)},
		"uid":             uid,
	}})
	return b
}

func releasePatch(owner, uid types.UID) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": owner}},
		"uid":             uid,
	}})
	return b
}

// Create names rev "<parent>-<hash>" and creates it. When the name is taken
// by a revision of parent with the same data, that one is returned; when
// it is taken by anything else, *collisionCount is incremented (the caller
// must persist it in the parent's status) and the next name is tried.
func (h *History) Create(ctx context.Context, parent metav1.Object, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("creating a revision of %s/%s: nil collision count", parent.GetNamespace(), parent.GetName())
	}
	client := h.client.AppsV1().ControllerRevisions(parent.GetNamespace())
	// A bounded loop: each round either returns or bumps the count, and a
	// real collision of FNV-32 hashes is rare.
	for attempt := 0; attempt < 100; attempt++ {
		clone := rev.DeepCopy()
		hash := Hash(clone, collisionCount)
		clone.Name = Name(parent.GetName(), hash)
		if clone.Labels == nil {
			clone.Labels = map[string]string{}
		}
		clone.Labels[HashLabel] = hash
		created, err := client.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		existing, getErr := client.Get(ctx, clone.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, getErr
		}
		if metav1.IsControlledBy(existing, parent) && Equal(existing, clone) {
			return existing, nil
		}
		*collisionCount++
	}
	return nil, fmt.Errorf("creating a revision of %s/%s: too many hash collisions", parent.GetNamespace(), parent.GetName())
}

// SetRevision gives an existing revision a new revision number (a
// rollback to an old template makes that template the newest again).
func (h *History) SetRevision(ctx context.Context, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	if rev.Revision == n {
		return rev, nil
	}
	patch := []byte(fmt.Sprintf(`{"revision":%d}`, n))
	return h.client.AppsV1().ControllerRevisions(rev.Namespace).Patch(ctx, rev.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// Delete deletes a revision; one already gone is not an error.
func (h *History) Delete(ctx context.Context, rev *appsv1.ControllerRevision) error {
	err := h.client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &rev.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// Truncate deletes the oldest revisions beyond limit, never one named in
// live (the current and update revisions, revisions pods still run).
func (h *History) Truncate(ctx context.Context, revs []*appsv1.ControllerRevision, live sets.Set[string], limit int32) error {
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live.Has(r.Name) {
			old = append(old, r)
		}
	}
	excess := len(old) - int(max(limit, 0))
	if excess <= 0 {
		return nil
	}
	Sort(old)
	var errs []error
	for _, r := range old[:excess] {
		errs = append(errs, h.Delete(ctx, r))
	}
	return utilerrors.NewAggregate(errs)
}
