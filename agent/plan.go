package agent

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"corral/agent/runtime"
)

// podState is what the agent remembers of a pod between syncs: only
// back-off, as upstream (lost on restart, which resets back-off).
type podState struct {
	backoff  map[string]*backoff      // by container name
	failures map[string]*startFailure // by container name: last start failed
}

type backoff struct {
	delay       time.Duration // the wait before the next restart; 0 before the first restart
	lastRestart time.Time
}

type backoffPolicy struct{ initial, max time.Duration }

type containerStart struct {
	c       *corev1.Container
	attempt int32
}

// podPlan is what a sync does to the runtime.
type podPlan struct {
	starts []containerStart
	// held are containers waiting out a restart back-off, with the
	// Waiting state to show for them.
	held map[string]*corev1.ContainerStateWaiting
	// next is when a back-off ends (zero: none).
	next time.Time
}

// planPod decides which containers to start now: init containers one at a
// time in order, then every app container that never ran or exited and
// must restart under the pod's restartPolicy, unless its back-off has not
// expired. It updates st's back-off records for the restarts it plans.
func planPod(pod *corev1.Pod, rs *runtime.PodStatus, st *podState, now time.Time, bo backoffPolicy) podPlan {
	var pl podPlan
	if !appStarted(pod, rs) {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			latest, _ := rs.Latest(c.Name)
			switch {
			case latest == nil:
				pl.starts = append(pl.starts, containerStart{c: c})
				return pl
			case latest.State == runtime.ContainerExited && latest.ExitCode == 0:
				continue
			case latest.State == runtime.ContainerExited && pod.Spec.RestartPolicy != corev1.RestartPolicyNever:
				pl.restart(pod, c, latest, st, now, bo)
			}
			return pl // running, created, or failed for good
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest, _ := rs.Latest(c.Name)
		switch {
		case latest == nil:
			pl.starts = append(pl.starts, containerStart{c: c})
		case latest.State == runtime.ContainerExited && shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode):
			pl.restart(pod, c, latest, st, now, bo)
		}
	}
	return pl
}

// restart plans the next attempt of an exited container or, within its
// back-off, holds it in CrashLoopBackOff. As kubelet: the first restart
// is immediate, later ones wait 10s, 20s, ... up to the maximum after the
// exit, and a container that ran for twice the maximum starts afresh.
func (pl *podPlan) restart(pod *corev1.Pod, c *corev1.Container, latest *runtime.ContainerStatus, st *podState, now time.Time, bo backoffPolicy) {
	if st.backoff == nil {
		st.backoff = map[string]*backoff{}
	}
	b := st.backoff[c.Name]
	if b == nil {
		b = &backoff{}
		st.backoff[c.Name] = b
	}
	if latest.FinishedAt.Sub(b.lastRestart) > 2*bo.max {
		b.delay = 0
	}
	if until := latest.FinishedAt.Add(b.delay); b.delay > 0 && now.Before(until) {
		if pl.held == nil {
			pl.held = map[string]*corev1.ContainerStateWaiting{}
		}
		pl.held[c.Name] = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.delay, c.Name, pod.Name, pod.Namespace, pod.UID)}
		pl.next = earliest(pl.next, until)
		return
	}
	switch {
	case b.delay == 0:
		b.delay = bo.initial
	case 2*b.delay > bo.max:
		b.delay = bo.max
	default:
		b.delay *= 2
	}
	b.lastRestart = now
	pl.starts = append(pl.starts, containerStart{c: c, attempt: latest.Attempt + 1})
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// appStarted: once an app container exists, init containers are done
// for good, even if the runtime dropped their records.
func appStarted(pod *corev1.Pod, rs *runtime.PodStatus) bool {
	for i := range pod.Spec.Containers {
		if l, _ := rs.Latest(pod.Spec.Containers[i].Name); l != nil {
			return true
		}
	}
	return false
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
