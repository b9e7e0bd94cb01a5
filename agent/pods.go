package agent

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"corral/agent/env"
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
	pod := a.freshest(a.cachedPod(key))
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
		a.forget(n, key.UID)
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

	if n.cfg.Preparer != nil {
		if err := n.cfg.Preparer.SetUp(ctx, pod); err != nil {
			a.event(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
			return fmt.Errorf("setting up volumes: %w", err)
		}
	}
	if rs == nil {
		if err := n.rt.RunPodSandbox(ctx, pod); err != nil {
			a.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return fmt.Errorf("creating the sandbox: %w", err)
		}
		if rs, err = n.rt.PodStatus(ctx, key.UID); err != nil || rs == nil {
			return fmt.Errorf("sandbox of %s/%s vanished: %v", pod.Namespace, pod.Name, err)
		}
	}
	now := a.clock.Now()
	if !rs.SandboxReady && pod.DeletionTimestamp == nil {
		// A sandbox that died (reboot, killed pause) is recreated unless
		// the pod is done; its containers then start as new attempts.
		if end, _ := podStatus(pod, rs, podPlan{}, func(*runtime.ContainerStatus) (bool, time.Time) { return false, time.Time{} }, nil, nil, now); !isTerminal(end.Phase) {
			if err := n.rt.RunPodSandbox(ctx, pod); err != nil {
				return fmt.Errorf("recreating the sandbox: %w", err)
			}
			if rs, err = n.rt.PodStatus(ctx, key.UID); err != nil || rs == nil {
				return fmt.Errorf("sandbox of %s/%s vanished: %v", pod.Namespace, pod.Name, err)
			}
		}
	}
	var pl podPlan
	st := a.state(key.UID)
	bo := backoffPolicy{a.opts.BackoffInitial, a.opts.BackoffMax}
	if rs.SandboxReady { // a stopped sandbox only reports its end
		pl = planPod(pod, rs, st, now, bo)
		holdFailed(&pl, st, pod, now)
	}
	started := 0
	for _, s := range pl.starts {
		if err := a.startContainer(ctx, n, pod, rs, s); err != nil {
			f := st.recordFailure(s.c.Name, err, now, bo)
			pl.hold(s.c.Name, f.reason, f.message)
			pl.next = earliest(pl.next, f.retryAt)
			a.event(pod, corev1.EventTypeWarning, "Failed", "Error: %s: %v", f.reason, err)
			continue
		}
		delete(st.failures, s.c.Name)
		started++
	}
	if started > 0 {
		if rs, err = n.rt.PodStatus(ctx, key.UID); err != nil || rs == nil {
			return fmt.Errorf("pod %s/%s vanished from the runtime: %v", pod.Namespace, pod.Name, err)
		}
		if n.cfg.Prober != nil {
			if err := a.runPostStart(ctx, n, pod, rs, pl.starts); err != nil {
				return err
			}
		}
	}
	if n.cfg.Prober != nil {
		n.cfg.Prober.Update(pod, rs)
		killed, err := a.killUnhealthy(ctx, n, pod, rs)
		if err != nil {
			return err
		}
		if killed { // plan the restarts from the stopped containers
			a.pods.Add(key)
		}
	}
	n.mu.Lock()
	hostIPs := n.hostIPs
	n.mu.Unlock()
	status, readyAt := podStatus(pod, rs, pl, a.readyFunc(n, pod, now), a.startedFunc(n, pod), hostIPs, now)
	if isTerminal(status.Phase) {
		if err := n.rt.StopPod(ctx, key.UID, 0); err != nil {
			return err
		}
	}
	if !equalStatus(pod.Status, status) {
		updated := pod.DeepCopy()
		updated.Status = status
		out, err := n.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return nil // deleted meanwhile; the delete event brings us back
			}
			return err // a conflict: the informer brings the newer pod, the retry uses it
		}
		a.remember(out)
	}
	next := earliest(earliest(pl.next, readyAt), rs.RecheckAt)
	if n.cfg.ResyncInterval > 0 {
		next = earliest(next, now.Add(jitter(n.cfg.ResyncInterval, 0.2)))
	}
	if !next.IsZero() && !isTerminal(status.Phase) {
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
		grace = a.runPreStop(n, pod, rs, grace)
		if err := n.rt.StopPod(ctx, pod.UID, grace); err != nil {
			return err
		}
		if !isTerminal(pod.Status.Phase) {
			if done, err := a.writeTerminalStatus(ctx, n, pod); err != nil || done {
				return err
			}
		}
	}
	err := n.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	if rs != nil {
		if err := n.rt.RemovePod(ctx, pod.UID); err != nil {
			return err
		}
	}
	a.forget(n, pod.UID)
	return nil
}

// writeTerminalStatus records how a deleted pod ended before it goes, as
// kubelet does since 1.27: Succeeded when every container exited 0,
// Failed otherwise. Controllers that wait for the end (a Job replacing
// only failed pods, its podFailurePolicy reading exit codes) need it.
// done: the pod is gone already.
func (a *Agent) writeTerminalStatus(ctx context.Context, n *node, pod *corev1.Pod) (done bool, err error) {
	rs, err := n.rt.PodStatus(ctx, pod.UID)
	if err != nil || rs == nil {
		return false, err
	}
	notReady := func(*runtime.ContainerStatus) (bool, time.Time) { return false, time.Time{} }
	n.mu.Lock()
	hostIPs := n.hostIPs
	n.mu.Unlock()
	status, _ := podStatus(pod, rs, podPlan{}, notReady, nil, hostIPs, a.clock.Now())
	// Sidecars (restartable init containers) are stopped by the deletion
	// itself: like kubelet, only the other containers decide.
	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		sidecars[c.Name] = c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	}
	status.Phase = corev1.PodSucceeded
	for _, cs := range append(append([]corev1.ContainerStatus(nil), status.InitContainerStatuses...), status.ContainerStatuses...) {
		if t := cs.State.Terminated; !sidecars[cs.Name] && (t == nil || t.ExitCode != 0) {
			status.Phase = corev1.PodFailed
		}
	}
	updated := pod.DeepCopy()
	updated.Status = status
	_, err = n.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
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

// startContainer resolves a container's configuration and starts it.
func (a *Agent) startContainer(ctx context.Context, n *node, pod *corev1.Pod, rs *runtime.PodStatus, s containerStart) error {
	var cfg runtime.ContainerConfig
	if n.cfg.Preparer != nil {
		// The API pod has no IPs before its first status: fieldRefs to
		// status.podIP and the pod's /etc/hosts must see the sandbox's.
		n.mu.Lock()
		var hostIPs []string
		for _, ip := range n.hostIPs {
			hostIPs = append(hostIPs, ip.IP)
		}
		n.mu.Unlock()
		var err error
		if cfg, err = n.cfg.Preparer.ContainerConfig(ctx, env.WithIPs(pod, rs.IPs, hostIPs), s.c); err != nil {
			return &runtime.StartError{Reason: runtime.ReasonCreateConfigError, Err: err}
		}
	}
	if err := n.rt.StartContainer(ctx, pod, s.c, s.attempt, cfg); err != nil {
		return err
	}
	a.event(pod, corev1.EventTypeNormal, "Started", "Started container %s", s.c.Name)
	return nil
}

func (a *Agent) readyFunc(n *node, pod *corev1.Pod, now time.Time) readyFunc {
	return func(c *runtime.ContainerStatus) (bool, time.Time) {
		switch {
		case n.prober != nil:
			return n.prober.Ready(pod, c, now)
		case n.cfg.Prober != nil:
			return c.State == runtime.ContainerRunning && n.cfg.Prober.Ready(pod.UID, c.Name, c.ID), time.Time{}
		}
		return c.State == runtime.ContainerRunning, time.Time{}
	}
}

// startedFunc answers containers' started field from the startup probes
// (nil: started once running).
func (a *Agent) startedFunc(n *node, pod *corev1.Pod) func(*runtime.ContainerStatus) bool {
	if n.cfg.Prober == nil {
		return nil
	}
	return func(c *runtime.ContainerStatus) bool { return n.cfg.Prober.Started(pod.UID, c.Name, c.ID) }
}

// event records a pod event when the agent has a recorder.
func (a *Agent) event(pod *corev1.Pod, eventType, reason, format string, args ...any) {
	if a.opts.Recorder != nil {
		a.opts.Recorder.Eventf(pod, eventType, reason, format, args...)
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

// forget drops what the agent keeps for a pod that is gone.
func (a *Agent) forget(n *node, uid types.UID) {
	a.mu.Lock()
	delete(a.states, uid)
	delete(a.written, uid)
	a.mu.Unlock()
	if n.cfg.Prober != nil {
		n.cfg.Prober.Remove(uid)
	}
	if n.cfg.Preparer != nil {
		if err := n.cfg.Preparer.TearDown(uid); err != nil {
			klog.Background().Error(err, "tearing down pod volumes", "uid", uid)
		}
	}
}

// freshest is pod, or the newer copy of it that the agent's own last
// status write returned. Under load the informer lags seconds behind the
// agent's writes: a pod's second status write (Running after
// ContainerCreating) then carried the informer's old resourceVersion and
// was refused with 409, again at every retry until the watch caught up
// (82,000 conflicts while 100,000 pods started in one run, each costing
// the server an etcd read). Kubelet reads the pod from the API server
// before each status write instead; this costs no request.
func (a *Agent) freshest(pod *corev1.Pod) *corev1.Pod {
	if pod == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.written[pod.UID]
	if w == nil {
		return pod
	}
	if !newerVersion(w.ResourceVersion, pod.ResourceVersion) {
		delete(a.written, pod.UID) // the informer has caught up
		return pod
	}
	return w
}

// remember keeps what a status write returned, for freshest.
func (a *Agent) remember(pod *corev1.Pod) {
	if pod == nil || pod.UID == "" {
		return
	}
	a.mu.Lock()
	a.written[pod.UID] = pod
	a.mu.Unlock()
}

// newerVersion: corral's resourceVersions are etcd revisions, so they
// compare as numbers; anything else is not taken for newer.
func newerVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x > y
}

func equalStatus(a, b corev1.PodStatus) bool { return equality.Semantic.DeepEqual(a, b) }

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }
