package daemonset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// calculateStatus counts, per node, the oldest daemon pod, as upstream.
func calculateStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodePods map[string][]*corev1.Pod, hash string,
	collisionCount int32, now time.Time) appsv1.DaemonSetStatus {
	st := *ds.Status.DeepCopy()
	var desired, current, misscheduled, ready, available, updated int32
	generation := templateGeneration(ds)
	for _, node := range nodes {
		run, _ := shouldRun(node, ds)
		pods := append([]*corev1.Pod(nil), nodePods[node.Name]...)
		if !run {
			if len(pods) > 0 {
				misscheduled++
			}
			continue
		}
		desired++
		if len(pods) == 0 {
			continue
		}
		current++
		sortPods(pods)
		p := pods[0]
		if podReady(p) {
			ready++
			if podAvailable(p, ds.Spec.MinReadySeconds, now) {
				available++
			}
		}
		if isUpdated(p, hash, generation) {
			updated++
		}
	}
	st.DesiredNumberScheduled = desired
	st.CurrentNumberScheduled = current
	st.NumberMisscheduled = misscheduled
	st.NumberReady = ready
	st.NumberAvailable = available
	st.UpdatedNumberScheduled = updated
	st.NumberUnavailable = desired - available
	st.ObservedGeneration = ds.Generation
	if collisionCount != 0 || st.CollisionCount != nil {
		st.CollisionCount = &collisionCount
	}
	return st
}

// updateStatus writes the status unless unchanged, retrying one conflict
// against a fresh copy: the status is ours alone.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		ds.Status = st
		if _, err = client.UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err == nil {
			return nil
		}
		fresh, getErr := client.Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != ds.UID || fresh.Generation != ds.Generation {
			return err // a newer spec: the next sync computes anew
		}
		ds = fresh
	}
	return err
}
