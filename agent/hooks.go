package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"corral/agent/runtime"
)

// PodPreparer resolves what a real runtime needs beyond the pod spec:
// volumes on the host, and each container's environment, mounts and image
// credentials (agent/volume, agent/env). Simulated nodes have none.
type PodPreparer interface {
	// SetUp prepares (or refreshes) the pod's volumes; called on every sync.
	SetUp(ctx context.Context, pod *corev1.Pod) error
	// ContainerConfig resolves one container's start configuration.
	ContainerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (runtime.ContainerConfig, error)
	// TearDown removes what SetUp made, once the pod is gone.
	TearDown(uid types.UID) error
}

// PodProber runs the probes of a node's pods (agent/prober). Without one,
// a running container is ready (and the simulator answers itself).
type PodProber interface {
	// Update is told each pod's runtime status on every sync, so it
	// starts and stops probe workers with the containers.
	Update(pod *corev1.Pod, rs *runtime.PodStatus)
	// Remove stops the probes of a pod that is gone.
	Remove(uid types.UID)
	// Ready and Started answer for one container attempt.
	Ready(uid types.UID, container, containerID string) bool
	Started(uid types.UID, container, containerID string) bool
	// Kill tells whether a failed liveness or startup probe asks for the
	// container attempt to be killed, why, and with which grace period.
	Kill(uid types.UID, container, containerID string) (message string, grace time.Duration, kill bool)
	// RunHook runs a postStart or preStop handler of a container.
	RunHook(pod *corev1.Pod, c *corev1.Container, containerID string, h *corev1.LifecycleHandler, timeout time.Duration) error
}

// runPostStart runs the postStart hooks of containers just started; a
// failed hook kills its container, as kubelet does.
func (a *Agent) runPostStart(ctx context.Context, n *node, pod *corev1.Pod, rs *runtime.PodStatus, started []containerStart) error {
	for _, s := range started {
		if s.c.Lifecycle == nil || s.c.Lifecycle.PostStart == nil {
			continue
		}
		latest, _ := rs.Latest(s.c.Name)
		if latest == nil || latest.State != runtime.ContainerRunning {
			continue
		}
		if err := n.cfg.Prober.RunHook(pod, s.c, latest.ID, s.c.Lifecycle.PostStart, hookTimeout(pod)); err != nil {
			a.event(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			if err := n.rt.StopContainer(ctx, latest.ID, hookTimeout(pod)); err != nil {
				return err
			}
		}
	}
	return nil
}

// runPreStop runs the preStop hooks of a terminating pod's running
// containers in parallel, within the grace period, and returns what is
// left of it for SIGTERM.
func (a *Agent) runPreStop(n *node, pod *corev1.Pod, rs *runtime.PodStatus, grace time.Duration) time.Duration {
	if n.cfg.Prober == nil || rs == nil {
		return grace
	}
	start := a.clock.Now()
	var wg sync.WaitGroup
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest, _ := rs.Latest(c.Name)
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || latest == nil || latest.State != runtime.ContainerRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.cfg.Prober.RunHook(pod, c, latest.ID, c.Lifecycle.PreStop, grace); err != nil {
				a.event(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
			}
		}()
	}
	wg.Wait()
	left := grace - a.clock.Since(start)
	if left < 2*time.Second && grace > 0 {
		left = 2 * time.Second // kubelet's minimum after a preStop hook
	}
	return left
}

func hookTimeout(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g > 0 {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// killUnhealthy stops running containers whose liveness or startup probe
// failed; the next sync restarts them under the restart policy.
func (a *Agent) killUnhealthy(ctx context.Context, n *node, pod *corev1.Pod, rs *runtime.PodStatus) (killed bool, err error) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			latest, _ := rs.Latest(c.Name)
			if latest == nil || latest.State != runtime.ContainerRunning {
				continue
			}
			msg, grace, kill := n.cfg.Prober.Kill(pod.UID, c.Name, latest.ID)
			if !kill {
				continue
			}
			if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				msg += ", will be restarted"
			}
			a.event(pod, corev1.EventTypeNormal, "Killing", "%s", msg)
			if err := n.rt.StopContainer(ctx, latest.ID, grace); err != nil {
				return killed, err
			}
			killed = true
		}
	}
	return killed, nil
}

// startFailure remembers a container that could not start, so the next
// try waits out a back-off and the status shows why (ErrImagePull, then
// ImagePullBackOff, as kubelet).
type startFailure struct {
	reason, message string
	retryAt         time.Time
	delay           time.Duration
}

// holdFailed keeps containers whose last start failed out of the plan
// until their back-off ends, showing the failure as their waiting state.
func holdFailed(pl *podPlan, st *podState, pod *corev1.Pod, now time.Time) {
	if len(st.failures) == 0 {
		return
	}
	kept := pl.starts[:0]
	for _, s := range pl.starts {
		f := st.failures[s.c.Name]
		if f == nil || !now.Before(f.retryAt) {
			kept = append(kept, s)
			continue
		}
		reason, msg := f.reason, f.message
		if reason == runtime.ReasonErrImagePull {
			reason, msg = runtime.ReasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q: %s", s.c.Image, f.message)
		}
		pl.hold(s.c.Name, reason, msg)
		pl.next = earliest(pl.next, f.retryAt)
	}
	pl.starts = kept
}

// recordFailure notes a failed start with an exponential back-off.
func (st *podState) recordFailure(name string, err error, now time.Time, bo backoffPolicy) *startFailure {
	if st.failures == nil {
		st.failures = map[string]*startFailure{}
	}
	f := st.failures[name]
	if f == nil {
		f = &startFailure{}
		st.failures[name] = f
	}
	switch {
	case f.delay == 0:
		f.delay = bo.initial
	case 2*f.delay > bo.max:
		f.delay = bo.max
	default:
		f.delay *= 2
	}
	f.reason, f.message, f.retryAt = runtime.ReasonRunContainerError, err.Error(), now.Add(f.delay)
	var se *runtime.StartError
	if errors.As(err, &se) && se.Reason != "" {
		f.reason = se.Reason
	}
	return f
}

func (pl *podPlan) hold(name, reason, message string) {
	if pl.held == nil {
		pl.held = map[string]*corev1.ContainerStateWaiting{}
	}
	pl.held[name] = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
}
