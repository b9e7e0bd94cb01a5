package statefulset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// calculateStatus counts the set's pods as upstream does; the current
// revision catches up with the update revision once a rolling update has
// every pod updated and ready.
func calculateStatus(set *appsv1.StatefulSet, pods []*corev1.Pod, current, update *appsv1.ControllerRevision,
	collisionCount int32, now time.Time) appsv1.StatefulSetStatus {
	st := *set.Status.DeepCopy()
	st.ObservedGeneration = set.Generation
	st.CurrentRevision, st.UpdateRevision = current.Name, update.Name
	st.CollisionCount = &collisionCount
	st.Replicas, st.ReadyReplicas, st.AvailableReplicas, st.CurrentReplicas, st.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, p := range pods {
		st.Replicas++
		if runningAndReady(p) {
			st.ReadyReplicas++
			if runningAndAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if terminating(p) {
			continue
		}
		if podRevision(p) == current.Name {
			st.CurrentReplicas++
		}
		if podRevision(p) == update.Name {
			st.UpdatedReplicas++
		}
	}
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	return st
}

// updateStatus writes the status unless unchanged, retrying one conflict
// against a fresh copy: the status is ours alone.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, st appsv1.StatefulSetStatus) error {
	if apiequality.Semantic.DeepEqual(set.Status, st) {
		return nil
	}
	client := c.client.AppsV1().StatefulSets(set.Namespace)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		set.Status = st
		if _, err = client.UpdateStatus(ctx, set, metav1.UpdateOptions{}); err == nil {
			return nil
		}
		fresh, getErr := client.Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != set.UID || fresh.Generation != set.Generation {
			return err // a newer spec: the next sync computes anew
		}
		set = fresh
	}
	return err
}
