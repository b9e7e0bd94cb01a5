package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"corral/agent/runtime"
)

// syncPod brings one pod's runtime state towards its spec and posts the
// resulting status. It is called for informer events, runtime changes
// and at the times the last sync said something will change.
func (a *Agent) syncPod(ctx context.Context, key podKey) error {
	n := a.nodes[key.Node]
	if n == nil {
		return nil
	}
	pod := a.cachedPod(key)
	rs, err := n.rt.PodStatus(ctx, key.UID)
	if err != nil {
		return err
	}
	switch {
	case pod == nil: // gone from the API (force-deleted, or deleted while we were down)
		if rs != nil {
			if err := n.rt.StopPod(ctx, key.UID, 0); err != nil {
				return err
			}
			if err := n.rt.RemovePod(ctx, key.UID); err != nil {
				return err
			}
		}
		a.forget(key.UID)
		return nil
	case pod.DeletionTimestamp != nil:
		return a.terminate(ctx, n, pod, rs)
	case isTerminal(pod.Status.Phase):
		// Finished for good: free the sandbox, keep the records until the
		// pod is deleted.
		if rs != nil && rs.SandboxReady {
			return n.rt.StopPod(ctx, key.UID, 0)
		}
		return nil
	}

	if rs == nil {
		if err := n.rt.RunPodSandbox(ctx, pod); err != nil {
			return fmt.Errorf("creating the sandbox: %w", err)
		}
		if rs, err = n.rt.PodStatus(ctx, key.UID); err != nil || rs == nil {
			return fmt.Errorf("sandbox of %s/%s vanished: %v", pod.Namespace, pod.Name, err)
		}
	}
	now := a.clock.Now()
	var pl podPlan
	if rs.SandboxReady { // a stopped sandbox only reports its end
		pl = planPod(pod, rs, a.state(key.UID), now, backoffPolicy{a.opts.BackoffInitial, a.opts.BackoffMax})
	}
	for _, s := range pl.starts {
		if err := n.rt.StartContainer(ctx, pod, s.c, s.attempt, runtime.ContainerConfig{}); err != nil {
			return fmt.Errorf("starting container %s: %w", s.c.Name, err)
		}
	}
	if len(pl.starts) > 0 {
		if rs, err = n.rt.PodStatus(ctx, key.UID); err != nil || rs == nil {
			return fmt.Errorf("pod %s/%s vanished from the runtime: %v", pod.Namespace, pod.Name, err)
		}
	}
	n.mu.Lock()
	hostIPs := n.hostIPs
	n.mu.Unlock()
	status, readyAt := podStatus(pod, rs, pl, a.readyFunc(n, pod, now), hostIPs, now)
	if isTerminal(status.Phase) {
		if err := n.rt.StopPod(ctx, key.UID, 0); err != nil {
			return err
		}
	}
	if !equalStatus(pod.Status, status) {
		updated := pod.DeepCopy()
		updated.Status = status
		if _, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil // deleted meanwhile; the delete event brings us back
			}
			return err // a conflict: the informer brings the newer pod, the retry uses it
		}
	}
	if next := earliest(earliest(pl.next, readyAt), rs.RecheckAt); !next.IsZero() && !isTerminal(status.Phase) {
		a.pods.AddAfter(key, next.Sub(a.clock.Now()))
	}
	return nil
}

// terminate stops a pod being deleted, then confirms the deletion with a
// grace-0 delete, which is what lets the API server remove the object.
func (a *Agent) terminate(ctx context.Context, n *node, pod *corev1.Pod, rs *runtime.PodStatus) error {
	if rs == nil && ptr.Deref(pod.DeletionGracePeriodSeconds, 1) == 0 {
		return nil // already confirmed; only finalizers hold the object now
	}
	if rs != nil {
		grace := time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 30)) * time.Second
		if err := n.rt.StopPod(ctx, pod.UID, grace); err != nil {
			return err
		}
	}
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	if rs != nil {
		if err := n.rt.RemovePod(ctx, pod.UID); err != nil {
			return err
		}
	}
	a.forget(pod.UID)
	return nil
}

// cachedPod is the informer's pod for key, or nil when the API has no
// pod of that name and UID.
func (a *Agent) cachedPod(key podKey) *corev1.Pod {
	obj, ok, err := a.podInformer.GetIndexer().GetByKey(key.Namespace + "/" + key.Name)
	if err != nil || !ok {
		return nil
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.UID != key.UID || pod.Spec.NodeName != key.Node {
		return nil
	}
	return pod
}

func (a *Agent) readyFunc(n *node, pod *corev1.Pod, now time.Time) readyFunc {
	return func(c *runtime.ContainerStatus) (bool, time.Time) {
		if n.prober != nil {
			return n.prober.Ready(pod, c, now)
		}
		// No prober yet for real runtimes (issue C): running means ready.
		return c.State == runtime.ContainerRunning, time.Time{}
	}
}

func (a *Agent) state(uid types.UID) *podState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.states[uid]
	if st == nil {
		st = &podState{}
		a.states[uid] = st
	}
	return st
}

func (a *Agent) forget(uid types.UID) {
	a.mu.Lock()
	delete(a.states, uid)
	a.mu.Unlock()
}

func equalStatus(a, b corev1.PodStatus) bool { return equality.Semantic.DeepEqual(a, b) }

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }
