package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"corral/agent/runtime"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func exited(name string, attempt int32, code int32, finished time.Time) runtime.ContainerStatus {
	return runtime.ContainerStatus{Name: name, Attempt: attempt, State: runtime.ContainerExited, ExitCode: code,
		StartedAt: finished.Add(-time.Second), FinishedAt: finished}
}

// TestBackoffSchedule walks a crash loop: immediate first restart, then
// waits of 10s, 20s, 40s ... capped at 5m, reset after a long run.
func TestBackoffSchedule(t *testing.T) {
	pod := testPod("p", "n", corev1.RestartPolicyAlways, nil)
	bo := backoffPolicy{10 * time.Second, 5 * time.Minute}
	st := &podState{}
	now, attempt := t0, int32(0)
	var waits []time.Duration
	for i := 0; i < 8; i++ {
		rs := &runtime.PodStatus{SandboxReady: true, Containers: []runtime.ContainerStatus{exited("app", attempt, 1, now)}}
		pl := planPod(pod, rs, st, now, bo)
		if len(pl.starts) == 0 {
			if pl.held["app"] == nil || pl.held["app"].Reason != "CrashLoopBackOff" || pl.next.IsZero() {
				t.Fatalf("exit %d: neither restarted nor held: %+v", i, pl)
			}
			waits = append(waits, pl.next.Sub(now))
			now = pl.next
			if pl = planPod(pod, rs, st, now, bo); len(pl.starts) != 1 {
				t.Fatalf("exit %d: not restarted when the back-off ended: %+v", i, pl)
			}
		} else {
			waits = append(waits, 0)
		}
		if got := pl.starts[0].attempt; got != attempt+1 {
			t.Fatalf("attempt %d, want %d", got, attempt+1)
		}
		attempt++
		now = now.Add(time.Second) // runs a second, crashes again
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	// A container that ran for more than twice the maximum starts afresh.
	now = now.Add(11 * time.Minute)
	rs := &runtime.PodStatus{SandboxReady: true, Containers: []runtime.ContainerStatus{exited("app", attempt, 1, now)}}
	if pl := planPod(pod, rs, st, now, bo); len(pl.starts) != 1 {
		t.Fatalf("back-off not reset after a long run: %+v", pl)
	}
}

func TestPlanRestartPolicyAndInit(t *testing.T) {
	bo := backoffPolicy{10 * time.Second, 5 * time.Minute}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		start  bool
	}{
		{corev1.RestartPolicyAlways, 0, true}, {corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 2, true}, {corev1.RestartPolicyNever, 2, false},
	} {
		pod := testPod("p", "n", tc.policy, nil)
		rs := &runtime.PodStatus{SandboxReady: true, Containers: []runtime.ContainerStatus{exited("app", 0, tc.code, t0)}}
		if pl := planPod(pod, rs, &podState{}, t0, bo); (len(pl.starts) == 1) != tc.start {
			t.Errorf("%s exit %d: starts %v, want restart %v", tc.policy, tc.code, pl.starts, tc.start)
		}
	}

	pod := testPod("p", "n", corev1.RestartPolicyAlways, nil)
	pod.Spec.InitContainers = []corev1.Container{{Name: "i1"}, {Name: "i2"}}
	rs := &runtime.PodStatus{SandboxReady: true}
	step := func(want string) {
		t.Helper()
		pl := planPod(pod, rs, &podState{}, t0, bo)
		var got string
		for _, s := range pl.starts {
			got += s.c.Name + " "
		}
		if got != want {
			t.Fatalf("starts %q, want %q", got, want)
		}
	}
	step("i1 ")
	rs.Containers = append(rs.Containers, runtime.ContainerStatus{Name: "i1", State: runtime.ContainerRunning})
	step("")
	rs.Containers[0] = exited("i1", 0, 0, t0)
	step("i2 ")
	rs.Containers = append(rs.Containers, exited("i2", 0, 0, t0))
	step("app ")
}

func TestPodPhase(t *testing.T) {
	run := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	ok := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	bad := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
	wait := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		states []corev1.ContainerState
		want   corev1.PodPhase
	}{
		{corev1.RestartPolicyAlways, []corev1.ContainerState{run, wait}, corev1.PodPending},
		{corev1.RestartPolicyAlways, []corev1.ContainerState{run, ok}, corev1.PodRunning},
		{corev1.RestartPolicyAlways, []corev1.ContainerState{ok}, corev1.PodRunning},
		{corev1.RestartPolicyNever, []corev1.ContainerState{ok, ok}, corev1.PodSucceeded},
		{corev1.RestartPolicyNever, []corev1.ContainerState{ok, bad}, corev1.PodFailed},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerState{bad}, corev1.PodRunning},
		{corev1.RestartPolicyOnFailure, []corev1.ContainerState{ok}, corev1.PodSucceeded},
	} {
		pod := testPod("p", "n", tc.policy, nil)
		var sts []corev1.ContainerStatus
		for _, s := range tc.states {
			sts = append(sts, corev1.ContainerStatus{State: s})
		}
		if got := podPhase(pod, true, false, sts); got != tc.want {
			t.Errorf("%s %+v: phase %s, want %s", tc.policy, tc.states, got, tc.want)
		}
	}
}

// TestStatusStable: computing the status twice from the same report gives
// an equal status, so an idle pod causes no writes.
func TestStatusStable(t *testing.T) {
	pod := testPod("p", "n", corev1.RestartPolicyAlways, nil)
	rs := &runtime.PodStatus{SandboxReady: true, IPs: []string{"10.0.0.2"}, Containers: []runtime.ContainerStatus{
		{Name: "app", State: runtime.ContainerRunning, StartedAt: t0.Add(1500 * time.Millisecond)}}}
	ready := func(c *runtime.ContainerStatus) (bool, time.Time) { return true, time.Time{} }
	st, _ := podStatus(pod, rs, podPlan{}, ready, nil, nil, t0.Add(2*time.Second))
	pod.Status = st
	again, _ := podStatus(pod, rs, podPlan{}, ready, nil, nil, t0.Add(time.Minute))
	if !equalStatus(st, again) {
		t.Fatalf("status changed without cause:\n%+v\n%+v", st, again)
	}
	if st.Phase != corev1.PodRunning || !hasTrueCondition(&st, corev1.PodReady) {
		t.Fatalf("status %+v", st)
	}
}
