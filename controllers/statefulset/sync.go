package statefulset

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	"corral/controllers/history"
	"corral/controllers/ownerindex"
)

// sync reconciles one StatefulSet and records its status. Nothing read
// from the informer caches is modified.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid StatefulSet key", "key", key)
		return 0, nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		// Retrying cannot fix a bad selector; the next spec change will.
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid StatefulSet selector", "statefulSet", key)
		return 0, nil
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return 0, err
	}
	revs, err := c.history.Claim(ctx, set, controllerKind, selector, c.canAdopt(set))
	if err != nil {
		return 0, err
	}
	history.Sort(revs)
	collisionCount := int32(0)
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	current, update, err := c.revisions(ctx, set, revs, &collisionCount)
	if err != nil {
		return 0, err
	}
	now := c.clock.Now()
	st := calculateStatus(set, pods, current, update, collisionCount, now)
	var errs []error
	if set.DeletionTimestamp == nil {
		errs = append(errs, c.reconcile(ctx, set, current, update, pods, now))
	}
	if err := c.updateStatus(ctx, set.DeepCopy(), st); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.truncateHistory(ctx, set, pods, revs, current, update))
	var after time.Duration
	if set.Spec.MinReadySeconds > 0 && st.AvailableReplicas != st.ReadyReplicas {
		after = time.Duration(set.Spec.MinReadySeconds) * time.Second
	}
	return after, utilerrors.NewAggregate(errs)
}

// claimPods returns the set's pods after adopting matching orphans named
// as its members and releasing owned pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := ownerindex.Pods(c.podIndexer, set.Namespace, set.UID)
	if err != nil {
		return nil, err
	}
	var owned []*corev1.Pod
	var errs []error
	var adoptErr error
	adoptChecked := false
	for _, pod := range all {
		match := selector.Matches(labels.Set(pod.Labels)) && isMember(set, pod)
		if ref := metav1.GetControllerOf(pod); ref != nil {
			if ref.UID != set.UID {
				continue
			}
			if match {
				owned = append(owned, pod)
			} else if set.DeletionTimestamp == nil {
				errs = append(errs, c.patchPod(ctx, pod, ownerPatch(pod.UID, []map[string]any{{"$patch": "delete", "uid": set.UID}})))
			}
			continue
		}
		if !match || pod.DeletionTimestamp != nil || set.DeletionTimestamp != nil {
			continue
		}
		if !adoptChecked {
			adoptChecked = true
			adoptErr = c.canAdopt(set)(ctx)
			errs = append(errs, adoptErr)
		}
		if adoptErr != nil {
			continue
		}
		if err := c.patchPod(ctx, pod, ownerPatch(pod.UID, []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)})); err != nil {
			errs = append(errs, err)
			continue
		}
		owned = append(owned, pod)
	}
	return owned, utilerrors.NewAggregate(errs)
}

// ownerPatch carries the pod's uid so that the server rejects it when the
// pod was replaced by another of the same name.
func ownerPatch(uid types.UID, refs any) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": refs, "uid": uid}})
	return b
}

func (c *Controller) patchPod(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

// revisions returns the current revision (status.currentRevision, or the
// update revision when there is none yet) and the update revision (the
// template's, created or renumbered as the newest).
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision,
	collisionCount *int32) (current, update *appsv1.ControllerRevision, err error) {
	patch, err := history.TemplatePatch(set)
	if err != nil {
		return nil, nil, err
	}
	want := history.New(set, controllerKind, set.Spec.Template.Labels, patch, history.NextRevision(revs))
	equal := history.FindEqual(revs, want)
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		update = revs[len(revs)-1] // unchanged template
	case len(equal) > 0:
		// Back to an older template (rollout undo): it becomes the newest.
		update, err = c.history.SetRevision(ctx, equal[len(equal)-1], want.Revision)
	default:
		update, err = c.history.Create(ctx, set, want, collisionCount)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
		}
	}
	if current == nil {
		current = update
	}
	return current, update, nil
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that are neither current, update, nor run by a pod.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod,
	revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := sets.New(current.Name, update.Name)
	for _, p := range pods {
		live.Insert(podRevision(p))
	}
	limit := int32(10)
	if set.Spec.RevisionHistoryLimit != nil {
		limit = *set.Spec.RevisionHistoryLimit
	}
	return c.history.Truncate(ctx, revs, live, limit)
}

// reconcile creates, repairs and deletes pods: first every ordinal that
// should exist, then the condemned ones from the highest ordinal, then
// the rolling update. In OrderedReady mode each step waits for the pods
// before it to be Running and Ready.
func (c *Controller) reconcile(ctx context.Context, set *appsv1.StatefulSet, current, update *appsv1.ControllerRevision,
	pods []*corev1.Pod, now time.Time) error {
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return err
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return err
	}
	start, count := startOrdinal(set), replicaCount(set)
	replicas := make([]*corev1.Pod, count)
	var condemned []*corev1.Pod
	for _, p := range pods {
		switch ord := ordinalOf(p); {
		case ord >= start && ord < start+count:
			replicas[ord-start] = p
		case ord >= 0:
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	minReady := set.Spec.MinReadySeconds

	// The lowest unhealthy pod may be deleted even in OrderedReady mode;
	// any other unhealthy condemned pod waits for it.
	var firstUnhealthy *corev1.Pod
	for _, p := range replicas {
		if p != nil && !healthy(p) {
			firstUnhealthy = p
			break
		}
	}
	for i := len(condemned) - 1; i >= 0 && firstUnhealthy == nil; i-- {
		if !healthy(condemned[i]) {
			firstUnhealthy = condemned[i]
		}
	}

	var errs []error
	for i := range replicas {
		ord := start + i
		pod := replicas[i]
		if pod == nil {
			// In a rolling update, ordinals below the partition come back
			// at the current revision; all others (and every pod under
			// OnDelete) at the update revision.
			src, rev := updateSet, update.Name
			if ru := set.Spec.UpdateStrategy.RollingUpdate; set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
				ru != nil && ru.Partition != nil && i < int(*ru.Partition) {
				src, rev = currentSet, current.Name
			}
			if err := c.createPod(ctx, set, newPod(src, ord, rev)); err != nil {
				errs = append(errs, err)
				if monotonic {
					return utilerrors.NewAggregate(errs)
				}
				continue
			}
			if monotonic {
				return nil
			}
			continue
		}
		if finished(pod) {
			// A failed or finished pod is deleted; the next sync re-creates it.
			if !terminating(pod) {
				errs = append(errs, c.deletePod(ctx, set, pod))
			}
			if monotonic {
				return utilerrors.NewAggregate(errs)
			}
			continue
		}
		if pod.Status.Phase == corev1.PodPending && !terminating(pod) {
			// A pending pod may wait for a claim that was deleted.
			errs = append(errs, c.ensureClaims(ctx, set, ord))
		}
		if monotonic && (terminating(pod) || !runningAndAvailable(pod, minReady, now)) {
			return utilerrors.NewAggregate(errs)
		}
		if terminating(pod) {
			continue
		}
		errs = append(errs, c.ensureClaimOwners(ctx, set, ord, nil))
		if !identityMatches(set, pod) {
			errs = append(errs, c.fixIdentity(ctx, pod))
		}
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return err
	}

	for _, pod := range condemned {
		if terminating(pod) {
			if monotonic {
				return nil
			}
			continue
		}
		if monotonic && pod != firstUnhealthy && !runningAndAvailable(pod, minReady, now) {
			return nil
		}
		if set.Spec.PersistentVolumeClaimRetentionPolicy != nil &&
			set.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			// The claims go with the pod: the garbage collector deletes
			// them once their owner pod is gone.
			if err := c.ensureClaimOwners(ctx, set, ordinalOf(pod), pod); err != nil {
				return err
			}
		}
		if err := c.deletePod(ctx, set, pod); err != nil {
			errs = append(errs, err)
		}
		if monotonic {
			return utilerrors.NewAggregate(errs)
		}
	}
	if err := utilerrors.NewAggregate(errs); err != nil {
		return err
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return nil
	}
	return c.rollingUpdate(ctx, set, update, replicas, now)
}

// rollingUpdate deletes pods not at the update revision, from the highest
// ordinal down to the partition, keeping at most maxUnavailable of the
// replicas unavailable.
func (c *Controller) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, update *appsv1.ControllerRevision,
	replicas []*corev1.Pod, now time.Time) error {
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, len(replicas), false)
			if err != nil {
				return err
			}
			maxUnavailable = max(n, 1)
		}
	}
	unavailable := 0
	for _, p := range replicas {
		if p == nil || !healthy(p) || !runningAndAvailable(p, set.Spec.MinReadySeconds, now) {
			unavailable++
		}
	}
	room := maxUnavailable - unavailable
	var errs []error
	for i := len(replicas) - 1; i >= partition && room > 0; i-- {
		p := replicas[i]
		if p == nil || terminating(p) || podRevision(p) == update.Name {
			continue
		}
		errs = append(errs, c.deletePod(ctx, set, p))
		room--
	}
	return utilerrors.NewAggregate(errs)
}

func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.ensureClaims(ctx, set, ordinalOf(pod)); err != nil {
		return err
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the cache is behind; the pod's add event brings us back
	}
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		}
		return err
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

func (c *Controller) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone or replaced already
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return err
	}
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// fixIdentity restores the identity labels of a pod.
func (c *Controller) fixIdentity(ctx context.Context, pod *corev1.Pod) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		appsv1.StatefulSetPodNameLabel: pod.Name,
		appsv1.PodIndexLabel:           itoa(ordinalOf(pod)),
	}}})
	return c.patchPod(ctx, pod, patch)
}
