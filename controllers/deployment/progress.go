package deployment

import (
	"context"
	"fmt"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// syncRolloutStatus writes the status during a rollout, including the
// Progressing condition that progressDeadlineSeconds is measured against.
func (c *Controller) syncRolloutStatus(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) error {
	now := c.clock.Now()
	st := calculateStatus(all, newRS, d, metav1.NewTime(now))
	if !hasProgressDeadline(d) {
		removeCondition(&st, appsv1.DeploymentProgressing)
	}
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	alreadyComplete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == NewRSAvailableReason
	if hasProgressDeadline(d) && !alreadyComplete {
		name := fmt.Sprintf("Deployment %q", d.Name)
		if newRS != nil {
			name = fmt.Sprintf("ReplicaSet %q", newRS.Name)
		}
		switch {
		case deploymentComplete(d, &st):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, NewRSAvailableReason,
				name+" has successfully progressed.", now))
		case deploymentProgressing(d, &st):
			// Progress refreshes lastUpdateTime even with an unchanged
			// reason, which setCondition alone would not do.
			cond := newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReplicaSetUpdatedReason, name+" is progressing.", now)
			if cur != nil {
				if cur.Status == corev1.ConditionTrue {
					cond.LastTransitionTime = cur.LastTransitionTime
				}
				removeCondition(&st, appsv1.DeploymentProgressing)
			}
			setCondition(&st, cond)
		case deploymentTimedOut(d, &st, now):
			setCondition(&st, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, TimedOutReason,
				name+" has timed out progressing.", now))
		}
	}
	// Surface a ReplicaSet's failure (quota, admission) on the Deployment,
	// the new ReplicaSet's first.
	if f := replicaFailure(newRS, all); f != nil {
		setCondition(&st, *f)
	} else {
		removeCondition(&st, appsv1.DeploymentReplicaFailure)
	}

	if newRS != nil && deploymentComplete(d, &st) {
		if err := c.markFullyAvailable(ctx, newRS); err != nil {
			return err
		}
	}
	if !reflect.DeepEqual(d.Status, st) {
		d.Status = st
		if err := c.updateStatus(ctx, d); err != nil {
			return err
		}
	} else {
		c.requeueStuckDeployment(ctx, d, st)
	}
	if cond := getCondition(st, appsv1.DeploymentProgressing); cond != nil && cond.Reason == TimedOutReason && autoRollbackEnabled(d) {
		return c.autoRollback(ctx, d, all, newRS)
	}
	return nil
}

func replicaFailure(newRS *appsv1.ReplicaSet, all []*appsv1.ReplicaSet) *appsv1.DeploymentCondition {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				return &appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: c.Status, Reason: c.Reason,
					Message: c.Message, LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime}
			}
		}
	}
	return nil
}

// requeueStuckDeployment schedules the progress check: nothing else wakes
// the controller when a rollout silently makes no progress.
func (c *Controller) requeueStuckDeployment(ctx context.Context, d *appsv1.Deployment, st appsv1.DeploymentStatus) time.Duration {
	cur := getCondition(d.Status, appsv1.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || deploymentComplete(d, &st) || cur.Reason == TimedOutReason {
		return -1
	}
	after := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Sub(c.clock.Now())
	if after < time.Second {
		c.queue.AddRateLimited(d.Namespace + "/" + d.Name)
		return 0
	}
	// One extra second absorbs sub-second skew between condition time and
	// the timer.
	klog.FromContext(ctx).V(4).Info("Queueing Deployment for a progress check", "deployment", klog.KObj(d), "after", after)
	c.enqueueAfter(d, after+time.Second)
	return after
}

func autoRollbackEnabled(d *appsv1.Deployment) bool {
	return d.Annotations[AutoRollbackAnnotation] == "true"
}

// markFullyAvailable remembers on the ReplicaSet that its template once ran
// at full availability: the target of a later automatic rollback.
func (c *Controller) markFullyAvailable(ctx context.Context, rs *appsv1.ReplicaSet) error {
	if rs.Annotations[FullyAvailableAnnotation] == "true" {
		return nil
	}
	rsCopy := rs.DeepCopy()
	setAnnotation(rsCopy, FullyAvailableAnnotation, "true")
	_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
	return err
}

// autoRollback restores the template of the newest fully available old
// revision, as `kubectl rollout undo` would. It acts only while the current
// template never was fully available, so it cannot loop: after the
// rollback the current ReplicaSet is a marked one.
func (c *Controller) autoRollback(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	if newRS == nil || newRS.Annotations[FullyAvailableAnnotation] == "true" {
		return nil
	}
	var target *appsv1.ReplicaSet
	for _, rs := range all {
		if rs == nil || rs.UID == newRS.UID || rs.Annotations[FullyAvailableAnnotation] != "true" {
			continue
		}
		if target == nil || revision(rs) > revision(target) {
			target = rs
		}
	}
	if target == nil {
		return nil
	}
	template := target.Spec.Template.DeepCopy()
	delete(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	d.Spec.Template = *template
	// Like kubectl rollout undo, bring back the revision's own annotations
	// (change-cause and the like).
	for k, v := range target.Annotations {
		if !annotationsNotCopied[k] {
			setAnnotation(d, k, v)
		}
	}
	if _, err := c.client.AppsV1().Deployments(d.Namespace).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		return err
	}
	c.recorder.Eventf(d, corev1.EventTypeWarning, AutoRollbackReason,
		"Rollout of revision %d exceeded its progress deadline; rolled back to revision %d (last fully available)",
		revision(newRS), revision(target))
	return nil
}
