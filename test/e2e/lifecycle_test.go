package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

func shPod(name string, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "main", Image: busybox, Command: []string{"sh", "-c", script}}},
			TerminationGracePeriodSeconds: ptrInt64(2),
		},
	}
}

func (c *cluster) create(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	if _, err := c.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// A container that keeps failing is restarted with back-off and shows
// CrashLoopBackOff with its last exit code; a Never pod ends Failed.
func TestCrashLoopAndExitCodes(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	c.create(t, ns, shPod("crasher", "echo attempt; exit 3"))
	never := shPod("once", "exit 7")
	never.Spec.RestartPolicy = corev1.RestartPolicyNever
	c.create(t, ns, never)
	ok := shPod("done", "echo finished")
	ok.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	c.create(t, ns, ok)

	p := c.waitPod(t, ns, "crasher", 2*time.Minute, "CrashLoopBackOff after a restart", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.RestartCount >= 1 && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
	})
	last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Fatalf("lastState should be terminated with exit code 3 and reason Error: %+v", p.Status.ContainerStatuses[0])
	}
	p = c.waitPod(t, ns, "once", time.Minute, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 7 {
		t.Fatalf("want exit code 7: %+v", p.Status.ContainerStatuses[0])
	}
	p = c.waitPod(t, ns, "done", time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
		t.Fatalf("want Completed: %+v", p.Status.ContainerStatuses[0])
	}
	// kubectl logs --previous shows the earlier attempt.
	out := c.mustKubectl(t, "-n", ns, "logs", "crasher", "--previous")
	if !strings.Contains(out, "attempt") {
		t.Fatalf("logs --previous: %q", out)
	}
}

// A container over its memory limit is OOM-killed and restarted, and
// its status says OOMKilled.
func TestOOMKilled(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	// tail keeps the whole newline-free stream in memory.
	pod := shPod("hog", "head -c 200m /dev/zero | tail")
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{
		corev1.ResourceMemory: resource.MustParse("32Mi"), corev1.ResourceCPU: resource.MustParse("500m")}}
	c.create(t, ns, pod)
	p := c.waitPod(t, ns, "hog", 2*time.Minute, "OOMKilled", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if term != nil && term.Reason == "OOMKilled" {
					return true
				}
			}
		}
		return false
	})
	if p.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("limits only → Guaranteed QoS, got %s", p.Status.QOSClass)
	}
}

// Liveness failures restart the container; readiness failures keep the
// pod unready; a startup probe holds both back until it succeeds.
func TestProbes(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	live := shPod("liveness", "touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3600")
	live.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}, PeriodSeconds: 1, FailureThreshold: 2}
	c.create(t, ns, live)

	unready := shPod("unready", "exec httpd -f -p 8080 -h /tmp")
	unready.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/missing", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	unready.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1, FailureThreshold: 30}
	c.create(t, ns, unready)

	c.waitPod(t, ns, "liveness", 2*time.Minute, "a liveness restart", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	p := c.waitPod(t, ns, "unready", time.Minute, "started (startup probe passed)", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].Started != nil && *p.Status.ContainerStatuses[0].Started
	})
	// Readiness keeps failing (404): stays unready for several periods.
	time.Sleep(3 * time.Second)
	p = c.waitPod(t, ns, "unready", time.Minute, "still running", running)
	if ready(p) || p.Status.ContainerStatuses[0].Ready {
		t.Fatalf("readiness probe fails with 404 but the pod is ready: %+v", p.Status)
	}
	evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var unhealthy, killing bool
	for _, e := range evs.Items {
		unhealthy = unhealthy || (e.Reason == "Unhealthy" && strings.Contains(e.Message, "Readiness probe failed: HTTP probe failed with statuscode: 404"))
		killing = killing || (e.Reason == "Killing" && strings.Contains(e.Message, "failed liveness probe"))
	}
	if !unhealthy || !killing {
		t.Errorf("want Unhealthy (404) and Killing (liveness) events; unhealthy=%v killing=%v", unhealthy, killing)
	}
}

// Deletion sends SIGTERM and waits up to the grace period: a container
// that traps TERM finishes cleanly; one that ignores it is killed when
// the grace period ends.
func TestGracefulTermination(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	polite := shPod("polite", "trap 'echo got TERM; exit 0' TERM; while true; do sleep 0.1; done")
	polite.Spec.TerminationGracePeriodSeconds = ptrInt64(30)
	stubborn := shPod("stubborn", "trap '' TERM; while true; do sleep 0.1; done")
	stubborn.Spec.TerminationGracePeriodSeconds = ptrInt64(3)
	c.create(t, ns, polite)
	c.create(t, ns, stubborn)
	c.waitPod(t, ns, "polite", time.Minute, "Running", running)
	c.waitPod(t, ns, "stubborn", time.Minute, "Running", running)

	for _, tc := range []struct {
		name     string
		min, max time.Duration
	}{{"polite", 0, 20 * time.Second}, {"stubborn", 3 * time.Second, 25 * time.Second}} {
		start := time.Now()
		if err := c.client.CoreV1().Pods(ns).Delete(context.Background(), tc.name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.client.CoreV1().Pods(ns).Get(ctx, tc.name, metav1.GetOptions{})
			return err != nil, nil
		})
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: not gone after a minute", tc.name)
		}
		// Bounds, not timings: a TERM-ignoring container cannot be gone
		// before its grace period; a polite one must not wait out 30 s.
		if took < tc.min || took > tc.max {
			t.Errorf("%s: deletion took %s, want between %s and %s", tc.name, took, tc.min, tc.max)
		}
	}
}
