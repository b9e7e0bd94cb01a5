package replicaset

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"corral/controllers/ownerindex"
)

// syncReplicaSet brings one ReplicaSet to its desired size and records
// the status. It must not mutate anything from the informer caches.
func (c *Controller) syncReplicaSet(ctx context.Context, key string) error {
	logger := klog.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid ReplicaSet key", "key", key)
		return nil
	}
	c.syncTimes.set(key, c.clock.Now())
	rs, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		c.syncTimes.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Read before listing pods: an event that lands between the two must
	// not make us trust a cache that has not caught up yet.
	needsSync := c.expectations.Satisfied(key)

	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Retrying cannot fix a bad selector; the next spec change will.
		utilruntime.HandleErrorWithContext(ctx, err, "Invalid ReplicaSet selector", "replicaSet", key)
		return nil
	}
	allPods, err := ownerindex.Pods(c.podIndexer, ns, rs.UID)
	if err != nil {
		return err
	}
	var active []*corev1.Pod
	terminating := int32(0)
	for _, p := range allPods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		case p.DeletionTimestamp != nil:
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(p.Labels)) {
				terminating++
			}
		default:
			active = append(active, p)
		}
	}
	pods, err := c.claimPods(ctx, rs, selector, active)
	if err != nil {
		return err
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, pods, rs)
	}

	rs = rs.DeepCopy()
	status := calculateStatus(rs, pods, terminating, manageErr, c.clock.Now())
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return err
	}
	// Ready pods turn available after minReadySeconds without any event.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicas(updated) && updated.Status.AvailableReplicas != replicas(updated) {
		logger.V(4).Info("Requeueing ReplicaSet for availability check", "replicaSet", key)
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// claimPods returns the active pods the ReplicaSet owns after adopting
// matching orphans and releasing owned pods that no longer match.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var owned []*corev1.Pod
	var errs []error
	var adoptErr error
	adoptChecked := false
	for _, pod := range pods {
		match := selector.Matches(labels.Set(pod.Labels))
		if ref := metav1.GetControllerOf(pod); ref != nil {
			if ref.UID != rs.UID {
				continue
			}
			if match {
				owned = append(owned, pod)
				continue
			}
			if rs.DeletionTimestamp != nil {
				continue // the garbage collector takes it from here
			}
			if err := c.patchOwner(ctx, pod, releasePatch(rs, pod)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if !match || pod.DeletionTimestamp != nil || rs.DeletionTimestamp != nil {
			continue
		}
		if !adoptChecked {
			adoptErr, adoptChecked = c.canAdopt(ctx, rs), true
			if adoptErr != nil {
				errs = append(errs, adoptErr)
			}
		}
		if adoptErr != nil {
			continue
		}
		if err := c.patchOwner(ctx, pod, adoptPatch(rs, pod)); err != nil {
			errs = append(errs, err)
			continue
		}
		owned = append(owned, pod)
	}
	return owned, utilerrors.NewAggregate(errs)
}

// patchOwner applies an ownerReferences patch. A pod that vanished or was
// re-created (the uid in the patch no longer matches) is not an error.
func (c *Controller) patchOwner(ctx context.Context, pod *corev1.Pod, patch []byte) error {
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

// The uid in both patches makes the server reject them when the pod was
// replaced by another of the same name since the cache saw it.
func adoptPatch(rs *appsv1.ReplicaSet, pod *corev1.Pod) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		"uid":             pod.UID,
	}})
	return b
}

func releasePatch(rs *appsv1.ReplicaSet, pod *corev1.Pod) []byte {
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": rs.UID}},
		"uid":             pod.UID,
	}})
	return b
}

// manageReplicas creates or deletes pods so that len(pods) == replicas.
func (c *Controller) manageReplicas(ctx context.Context, pods []*corev1.Pod, rs *appsv1.ReplicaSet) error {
	key := keyOf(rs)
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		diff = min(-diff, burstReplicas)
		// Record before creating: the informer may see the first pod
		// before Create even returns.
		c.expectations.Set(key, diff, nil)
		created, err := slowStartBatch(diff, 1, func() error {
			err := c.createPod(ctx, rs)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // every further create fails the same way
			}
			return err
		})
		// Creates that failed or were never tried will not be observed.
		for i := created; i < diff; i++ {
			c.expectations.CreationObserved(key)
		}
		return err
	case diff > 0:
		diff = min(diff, burstReplicas)
		victims := podsToDelete(pods, diff, c.clock.Now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.expectations.Set(key, 0, keys)
		var wg sync.WaitGroup
		errCh := make(chan error, len(victims))
		for _, p := range victims {
			wg.Add(1)
			go func(p *corev1.Pod) {
				defer wg.Done()
				if err := c.deleteOnePod(ctx, rs, p); err != nil {
					errCh <- err
				}
			}(p)
		}
		wg.Wait()
		close(errCh)
		return <-errCh // nil when the channel is empty
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deleteOnePod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil {
		// Not going to see this deletion (or already gone, which the
		// uid-keyed record makes safe to count now).
		c.expectations.DeletionObserved(keyOf(rs), podKey(pod))
		if apierrors.IsNotFound(err) {
			return nil
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s: %w", podKey(pod), err)
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// podFromTemplate builds a pod as upstream's GetPodFromTemplate does.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    rs.Name + "-",
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Spec: t.Spec,
	}
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, ... and stops
// after the first batch with a failure, so a create that cannot succeed
// (quota, admission) fails a handful of times, not count times. It returns
// the number of successful calls and the first error.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errCh <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errCh)
		if len(errCh) > 0 {
			return successes, <-errCh
		}
		remaining -= batch
	}
	return successes, nil
}
