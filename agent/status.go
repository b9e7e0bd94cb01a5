package agent

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"corral/agent/runtime"
)

// readyFunc answers readiness of a running container and when it changes.
type readyFunc func(c *runtime.ContainerStatus) (bool, time.Time)

// podStatus computes the status to post: the API status with the agent's
// parts replaced (phase, conditions, container statuses, IPs, start
// time); everything else (qosClass, nominatedNodeName, foreign
// conditions) is kept. It also returns when readiness changes by itself.
func podStatus(pod *corev1.Pod, rs *runtime.PodStatus, pl podPlan, ready readyFunc, startedFn func(*runtime.ContainerStatus) bool, hostIPs []corev1.HostIP, now time.Time) (corev1.PodStatus, time.Time) {
	st := *pod.Status.DeepCopy()
	var next time.Time
	if len(hostIPs) > 0 {
		st.HostIP, st.HostIPs = hostIPs[0].IP, hostIPs
	}
	if pod.Spec.HostNetwork && len(hostIPs) > 0 {
		st.PodIP, st.PodIPs = hostIPs[0].IP, nil
		for _, ip := range hostIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip.IP})
		}
	} else if rs != nil && len(rs.IPs) > 0 {
		st.PodIP, st.PodIPs = rs.IPs[0], nil
		for _, ip := range rs.IPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if st.StartTime == nil {
		st.StartTime = ptr.To(mtime(now))
	}
	st.Reason, st.Message = "", ""

	// Init containers: done when each exited 0 (or app containers run).
	initDone, initFailed := true, false
	var pendingInit []string
	st.InitContainerStatuses = nil
	started := appStarted(pod, rs)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest, prev := rs.Latest(c.Name)
		cs := containerStatus(c, latest, prev, pl.held[c.Name], "PodInitializing")
		succeeded := latest != nil && latest.State == runtime.ContainerExited && latest.ExitCode == 0
		cs.Ready = succeeded
		if !succeeded && !started {
			initDone = false
			pendingInit = append(pendingInit, c.Name)
			if latest != nil && latest.State == runtime.ContainerExited && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				initFailed = true
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}

	st.ContainerStatuses = nil
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest, prev := rs.Latest(c.Name)
		waitReason := "ContainerCreating"
		if !initDone {
			waitReason = "PodInitializing"
		}
		cs := containerStatus(c, latest, prev, pl.held[c.Name], waitReason)
		if cs.State.Running != nil && pl.held[c.Name] == nil {
			ok, at := ready(latest)
			cs.Ready = ok
			next = earliest(next, at)
			if startedFn != nil {
				cs.Started = ptr.To(startedFn(latest))
			}
		}
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	st.Phase = podPhase(pod, initDone, initFailed, st.ContainerStatuses)
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed

	sandbox := cond(corev1.PodReadyToStartContainers, rs != nil && rs.SandboxReady, "", "")
	initialized := cond(corev1.PodInitialized, initDone, "ContainersNotInitialized", listMessage("containers with incomplete status", pendingInit))
	containersReady := cond(corev1.ContainersReady, len(unready) == 0, "ContainersNotReady", listMessage("containers with unready status", unready))
	podReady := cond(corev1.PodReady, len(unready) == 0, "ContainersNotReady", listMessage("containers with unready status", unready))
	if terminal {
		containersReady.Reason, containersReady.Message = "PodCompleted", ""
		podReady.Reason, podReady.Message = "PodCompleted", ""
		if initDone {
			initialized.Reason = "PodCompleted"
		}
	}
	if podReady.Status == corev1.ConditionTrue {
		var missing []string
		for _, g := range pod.Spec.ReadinessGates {
			if !hasTrueCondition(&pod.Status, g.ConditionType) {
				missing = append(missing, string(g.ConditionType))
			}
		}
		if len(missing) > 0 {
			podReady = cond(corev1.PodReady, false, "ReadinessGatesNotReady", "corresponding condition of pod readiness gate \""+strings.Join(missing, "\", \"")+"\" does not exist or is not True")
		}
	}
	mnow := mtime(now)
	for _, c := range []corev1.PodCondition{cond(corev1.PodScheduled, true, "", ""), sandbox, initialized, podReady, containersReady} {
		setCondition(&st, c, mnow)
	}
	return st, next
}

// containerStatus renders one container from its latest attempt and the
// one before (lastState); held is the back-off waiting state, if any.
func containerStatus(c *corev1.Container, latest, prev *runtime.ContainerStatus, held *corev1.ContainerStateWaiting, waitReason string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptr.To(false)}
	if latest == nil {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitReason}
		if held != nil {
			cs.State.Waiting = held
		}
		return cs
	}
	cs.ContainerID, cs.ImageID, cs.RestartCount = latest.ID, latest.ImageRef, latest.Attempt
	switch latest.State {
	case runtime.ContainerRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: mtime(latest.StartedAt)}
		cs.Started = ptr.To(true)
	case runtime.ContainerExited:
		cs.State.Terminated = terminated(latest)
	case runtime.ContainerCreated:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerStatusUnknown"}
	}
	switch {
	case held != nil:
		cs.State = corev1.ContainerState{Waiting: held}
		if latest.State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(latest)
		} else if prev != nil && prev.State == runtime.ContainerExited {
			cs.LastTerminationState.Terminated = terminated(prev)
		}
	case prev != nil && prev.State == runtime.ContainerExited:
		cs.LastTerminationState.Terminated = terminated(prev)
	}
	return cs
}

func terminated(c *runtime.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{ExitCode: c.ExitCode, Reason: c.Reason, Message: c.Message,
		FinishedAt: mtime(c.FinishedAt), ContainerID: c.ID}
	if !c.StartedAt.IsZero() {
		t.StartedAt = mtime(c.StartedAt)
	}
	return t
}

// podPhase follows kubelet's getPhase.
func podPhase(pod *corev1.Pod, initDone, initFailed bool, statuses []corev1.ContainerStatus) corev1.PodPhase {
	if initFailed {
		return corev1.PodFailed
	}
	if !initDone {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped == 0:
		return corev1.PodPending
	case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
		return corev1.PodRunning
	case stopped == succeeded:
		return corev1.PodSucceeded
	case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning
}

func cond(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
	if ok {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	}
	return corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message}
}

// setCondition replaces or appends c, keeping the transition time while
// the status stays the same (so an unchanged pod compares equal).
func setCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	for i := range st.Conditions {
		old := &st.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		c.LastTransitionTime, c.LastProbeTime, c.ObservedGeneration = old.LastTransitionTime, old.LastProbeTime, old.ObservedGeneration
		if old.Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		*old = c
		return
	}
	c.LastTransitionTime = now
	st.Conditions = append(st.Conditions, c)
}

func hasTrueCondition(st *corev1.PodStatus, t corev1.PodConditionType) bool {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func listMessage(prefix string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: [%s]", prefix, strings.Join(names, " "))
}

// mtime drops what the API would drop (sub-second, monotonic, zone), so
// a status read back compares equal to the one computed.
func mtime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Round(0).Truncate(time.Second).UTC())
}
