package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"corral/controllers/disruption"
)

// syncEvictions deletes the pods of a node whose NoExecute taints they no
// longer tolerate, and requeues the node for the next deadline.
func (c *Controller) syncEvictions(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.taintSince, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	now := c.clock.Now()
	taints, since := c.evictingTaints(node, now)
	if len(taints) == 0 {
		return nil
	}
	objs, err := c.podIndexer.ByIndex(podNodeIndex, name)
	if err != nil {
		return err
	}
	var next time.Duration
	var errs []error
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.DeletionTimestamp != nil || pod.Spec.NodeName != name {
			continue
		}
		at, ok := c.evictionTime(pod, taints, since)
		if !ok {
			continue // tolerates all the taints forever
		}
		if wait := at.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if err := c.evict(ctx, pod); err != nil {
			errs = append(errs, err)
		}
	}
	if next > 0 {
		c.evictQueue.AddAfter(name, next)
	}
	return errors.Join(errs...)
}

// evictingTaints returns the node's NoExecute taints that evict now, and
// when each was first seen. The not-ready/unreachable taints do not evict
// in a disrupted zone, nor before this controller has judged the node
// itself (they may be a previous instance's, from before a restart).
func (c *Controller) evictingTaints(node *corev1.Node, now time.Time) ([]corev1.Taint, map[string]time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.taintSince[node.Name]
	fresh := map[string]time.Time{}
	var out []corev1.Taint
	h := c.health[node.Name]
	judged := h != nil && h.state != pending
	for _, t := range node.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		at, ok := seen[t.Key]
		if !ok {
			at = now
		}
		fresh[t.Key] = at
		if isOurs(t.Key) && (!judged || c.disrupted[zoneOf(node)]) {
			continue
		}
		out = append(out, t)
	}
	if len(fresh) == 0 {
		delete(c.taintSince, node.Name)
	} else {
		c.taintSince[node.Name] = fresh
	}
	return out, fresh
}

func isOurs(key string) bool {
	return key == corev1.TaintNodeUnreachable || key == corev1.TaintNodeNotReady
}

// evictionTime is when the pod must go: the earliest, over the taints, of
// first-seen plus its toleration (now for a taint it does not tolerate).
// ok is false when it tolerates every taint forever.
func (c *Controller) evictionTime(pod *corev1.Pod, taints []corev1.Taint, since map[string]time.Time) (time.Time, bool) {
	var at time.Time
	found := false
	for i := range taints {
		t := &taints[i]
		wait, tolerated := c.toleration(pod, t)
		if tolerated && wait == nil {
			continue
		}
		when := since[t.Key]
		if tolerated {
			when = when.Add(*wait)
		}
		if !found || when.Before(at) {
			at, found = when, true
		}
	}
	return at, found
}

// toleration returns how long the pod tolerates the taint (nil: forever).
// Of several matching tolerations the most lenient wins. A pod without any
// toleration for the not-ready/unreachable taints gets the default one,
// by the rule of upstream's DefaultTolerationSeconds admission plugin.
func (c *Controller) toleration(pod *corev1.Pod, t *corev1.Taint) (*time.Duration, bool) {
	var best *time.Duration
	tolerated, considered := false, false
	for i := range pod.Spec.Tolerations {
		tol := &pod.Spec.Tolerations[i]
		if (tol.Key == t.Key || tol.Key == "") && (tol.Effect == corev1.TaintEffectNoExecute || tol.Effect == "") {
			considered = true
		}
		if !tol.ToleratesTaint(klog.Background(), t, false) {
			continue
		}
		if tol.TolerationSeconds == nil {
			return nil, true
		}
		d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
		if !tolerated || d > *best {
			best = &d
		}
		tolerated = true
	}
	if !tolerated && !considered && isOurs(t.Key) {
		d := c.opts.DefaultUnreachableToleration
		return &d, true
	}
	return best, tolerated
}

// evict deletes the pod with its own grace period: its controller replaces
// it at once (terminating pods are not counted), and pod GC or the agent
// finishes the deletion.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	t := disruption.Target{Reason: disruption.ReasonDeletionByTaintManager, Message: disruption.MessageDeletionByTaintManager}
	if err := disruption.MarkTarget(ctx, c.client, pod, t, c.clock.Now()); err != nil {
		return fmt.Errorf("marking pod %s/%s for eviction: %w", pod.Namespace, pod.Name, err)
	}
	var opts metav1.DeleteOptions
	if uid := pod.UID; uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone, or a new pod of that name
	}
	if err != nil {
		return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	podDeletions.Inc()
	klog.FromContext(ctx).V(2).Info("evicted pod from tainted node", "pod", klog.KObj(pod), "node", pod.Spec.NodeName)
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	return nil
}
