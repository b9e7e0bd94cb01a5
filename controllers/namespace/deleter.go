package namespace

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
)

// deletionResult is what one pass over a namespace's content found.
type deletionResult struct {
	discoveryErr error
	deleteErrs   []error
	// remaining counts objects still present per resource ("pods", "jobs.batch").
	remaining map[string]int
	// finalizers counts remaining objects per finalizer they carry.
	finalizers map[string]int
	// estimate is how long until the last known graceful deletion ends.
	estimate time.Duration
}

func (r *deletionResult) total() int {
	n := 0
	for _, v := range r.remaining {
		n += v
	}
	return n
}

// err is non-nil when the pass could not prove the namespace empty for
// reasons other than objects still going away.
func (r *deletionResult) err() error {
	errs := r.deleteErrs
	if r.discoveryErr != nil {
		errs = append([]error{r.discoveryErr}, errs...)
	}
	return errors.Join(errs...)
}

// deletableResources lists the namespaced resources the controller can
// empty and check: list is needed to see what is left, and deletecollection
// or delete to remove it.
func (c *Controller) deletableResources() ([]schema.GroupVersionResource, map[schema.GroupVersionResource]sets.Set[string], error) {
	// The package function (not the method) so that every
	// DiscoveryInterface, fakes included, goes through ServerGroups.
	lists, err := discovery.ServerPreferredNamespacedResources(c.discovery)
	var gvrs []schema.GroupVersionResource
	verbs := map[schema.GroupVersionResource]sets.Set[string]{}
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			err = errors.Join(err, perr)
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !r.Namespaced {
				continue
			}
			v := sets.New[string](r.Verbs...)
			if !v.Has("list") || !v.HasAny("deletecollection", "delete") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if _, dup := verbs[gvr]; !dup {
				gvrs = append(gvrs, gvr)
			}
			verbs[gvr] = v
		}
	}
	// A stable order keeps logs and tests readable.
	sort.Slice(gvrs, func(i, j int) bool {
		if gvrs[i].Group != gvrs[j].Group {
			return gvrs[i].Group < gvrs[j].Group
		}
		return gvrs[i].Resource < gvrs[j].Resource
	})
	return gvrs, verbs, err
}

// deleteAllContent deletes every namespaced object in ns once and reports
// what is still there afterwards.
func (c *Controller) deleteAllContent(ctx context.Context, ns *corev1.Namespace) *deletionResult {
	result := &deletionResult{remaining: map[string]int{}, finalizers: map[string]int{}}
	gvrs, verbs, err := c.deletableResources()
	if err != nil {
		// Go on with what was found: partial progress is still progress,
		// but result.err() keeps the namespace from being finalized.
		result.discoveryErr = fmt.Errorf("discovering namespaced resources: %w", err)
	}
	now := c.clock.Now()
	for _, gvr := range gvrs {
		items, err := c.deleteResource(ctx, gvr, verbs[gvr], ns.Name)
		if err != nil {
			result.deleteErrs = append(result.deleteErrs, fmt.Errorf("%s: %w", gvr.GroupResource(), err))
			continue
		}
		if len(items) == 0 {
			continue
		}
		result.remaining[gvr.GroupResource().String()] += len(items)
		for i := range items {
			for _, f := range items[i].Finalizers {
				result.finalizers[f]++
			}
			if ts := items[i].DeletionTimestamp; ts != nil {
				if d := ts.Sub(now); d > result.estimate {
					result.estimate = d
				}
			}
		}
	}
	return result
}

// deleteResource removes all objects of gvr in namespace and returns what
// is left (objects in their grace period or held by finalizers).
func (c *Controller) deleteResource(ctx context.Context, gvr schema.GroupVersionResource, verbs sets.Set[string], namespace string) ([]metav1.PartialObjectMetadata, error) {
	client := c.metadataClient.Resource(gvr).Namespace(namespace)
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}

	eachItem := !verbs.Has("deletecollection")
	if !eachItem {
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		switch {
		case err == nil:
		case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
			eachItem = verbs.Has("delete")
		default:
			return nil, fmt.Errorf("deletecollection: %w", err)
		}
	}
	if eachItem {
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		for i := range list.Items {
			item := &list.Items[i]
			if item.DeletionTimestamp != nil {
				continue
			}
			err := client.Delete(ctx, item.Name, opts)
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("delete %s: %w", item.Name, err)
			}
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return list.Items, nil
}

// updateConditions writes the upstream deletion conditions when they
// changed, so users see why a namespace stays Terminating.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, r *deletionResult) error {
	want := []corev1.NamespaceCondition{
		condition(corev1.NamespaceDeletionDiscoveryFailure, r.discoveryErr != nil,
			"DiscoveryFailed", errString(r.discoveryErr),
			"ResourcesDiscovered", "All resources successfully discovered"),
		condition(corev1.NamespaceDeletionContentFailure, len(r.deleteErrs) > 0,
			"ContentDeletionFailed", fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(r.deleteErrs), errors.Join(r.deleteErrs...)),
			"ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
		condition(corev1.NamespaceContentRemaining, r.total() > 0,
			"SomeResourcesRemain", "Some resources are remaining: "+countsMessage(r.remaining, "resource instances"),
			"ContentRemoved", "All content successfully removed"),
		condition(corev1.NamespaceFinalizersRemaining, len(r.finalizers) > 0,
			"SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+countsMessage(r.finalizers, "resource instances"),
			"ContentHasNoFinalizers", "All content-preserving finalizers finished"),
	}
	now := metav1.NewTime(c.clock.Now())
	changed := false
	for _, w := range want {
		i := conditionIndex(ns.Status.Conditions, w.Type)
		if i < 0 {
			w.LastTransitionTime = now
			ns.Status.Conditions = append(ns.Status.Conditions, w)
			changed = true
			continue
		}
		old := &ns.Status.Conditions[i]
		if old.Status == w.Status && old.Reason == w.Reason && old.Message == w.Message {
			continue
		}
		w.LastTransitionTime = old.LastTransitionTime
		if old.Status != w.Status {
			w.LastTransitionTime = now
		}
		*old = w
		changed = true
	}
	if !changed {
		return nil
	}
	updated, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, ns, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*ns = *updated
	return nil
}

func condition(t corev1.NamespaceConditionType, isTrue bool, trueReason, trueMsg, falseReason, falseMsg string) corev1.NamespaceCondition {
	if isTrue {
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: trueReason, Message: trueMsg}
	}
	return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: falseReason, Message: falseMsg}
}

func conditionIndex(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) int {
	for i := range conds {
		if conds[i].Type == t {
			return i
		}
	}
	return -1
}

// countsMessage renders {"pods": 2} as "pods has 2 resource instances",
// sorted, as upstream words it.
func countsMessage(counts map[string]int, unit string) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s has %d %s", k, counts[k], unit))
	}
	return strings.Join(parts, ", ")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
