package simulated

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"

	"corral/agent/runtime"
)

func newTest(t *testing.T) (*Runtime, *testingclock.FakeClock) {
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := New(Options{Clock: clk, StartDelay: time.Second, FallbackCIDR: "10.1.0.0/30"})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func pod(uid string, policy corev1.RestartPolicy, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: "ns", UID: k8stypes.UID("u-" + uid), Annotations: ann},
		Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
}

func state(t *testing.T, r *Runtime, p *corev1.Pod) (runtime.ContainerStatus, time.Time) {
	t.Helper()
	st, err := r.PodStatus(context.Background(), p.UID)
	if err != nil || st == nil {
		t.Fatalf("status: %v %v", st, err)
	}
	l, _ := st.Latest("c")
	return *l, st.RecheckAt
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	r, clk := newTest(t)
	p := pod("crash", corev1.RestartPolicyAlways, map[string]string{AnnotationCrashAfter: "5s", AnnotationReadyAfter: "2s"})
	if err := r.RunPodSandbox(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, p, &p.Spec.Containers[0], 0, runtime.ContainerConfig{}); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	if c, next := state(t, r, p); c.State != runtime.ContainerCreated || !next.Equal(start.Add(time.Second)) {
		t.Fatalf("created: %v, recheck %v", c.State, next)
	}
	clk.Step(time.Second)
	c, next := state(t, r, p)
	if c.State != runtime.ContainerRunning || !next.Equal(start.Add(6*time.Second)) {
		t.Fatalf("running: %v, recheck %v", c.State, next)
	}
	if ok, at := r.Ready(p, &c, clk.Now()); ok || !at.Equal(start.Add(3*time.Second)) {
		t.Fatalf("ready too early: %v %v", ok, at)
	}
	if ok, _ := r.Ready(p, &c, start.Add(3*time.Second)); !ok {
		t.Fatal("not ready after ready-after")
	}
	clk.Step(5 * time.Second)
	if c, next := state(t, r, p); c.State != runtime.ContainerExited || c.ExitCode != 1 || c.Reason != "Error" || !next.IsZero() {
		t.Fatalf("crashed: %+v, recheck %v", c, next)
	}
	// Three attempts: only the last two are kept.
	for a := int32(1); a <= 2; a++ {
		if err := r.StartContainer(ctx, p, &p.Spec.Containers[0], a, runtime.ContainerConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := r.PodStatus(ctx, p.UID)
	if l, prev := st.Latest("c"); len(st.Containers) != 2 || l.Attempt != 2 || prev.Attempt != 1 {
		t.Fatalf("attempts kept: %+v", st.Containers)
	}
	clk.Step(2 * time.Second)
	if err := r.StopPod(ctx, p.UID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c, _ := state(t, r, p); c.State != runtime.ContainerExited || c.ExitCode != 0 {
		t.Fatalf("stopped: %+v", c)
	}
}

func TestJobAndIPs(t *testing.T) {
	ctx := context.Background()
	r, clk := newTest(t)
	job := pod("job", corev1.RestartPolicyNever, nil)
	if err := r.RunPodSandbox(ctx, job); err != nil {
		t.Fatal(err)
	}
	_ = r.StartContainer(ctx, job, &job.Spec.Containers[0], 0, runtime.ContainerConfig{})
	clk.Step(2 * time.Second) // start delay 1s + default job duration 1s
	if c, _ := state(t, r, job); c.State != runtime.ContainerExited || c.ExitCode != 0 || c.Reason != "Completed" {
		t.Fatalf("job: %+v", c)
	}
	// 10.1.0.0/30 has one usable address (.2; .3 is broadcast).
	st, _ := r.PodStatus(ctx, job.UID)
	if st.IPs[0] != "10.1.0.2" {
		t.Fatalf("ip %v", st.IPs)
	}
	if err := r.RunPodSandbox(ctx, pod("second", corev1.RestartPolicyAlways, nil)); err == nil {
		t.Fatal("allocated past the end of the range")
	}
	_ = r.RemovePod(ctx, job.UID)
	if err := r.RunPodSandbox(ctx, pod("third", corev1.RestartPolicyAlways, nil)); err != nil {
		t.Fatalf("freed address not reused: %v", err)
	}
	if err := r.UpdatePodCIDR("10.2.0.0/24"); err != nil {
		t.Fatal(err)
	}
	p := pod("fourth", corev1.RestartPolicyAlways, nil)
	_ = r.RunPodSandbox(ctx, p)
	if st, _ := r.PodStatus(ctx, p.UID); st.IPs[0] != "10.2.0.2" {
		t.Fatalf("ip after podCIDR %v", st.IPs)
	}
	if pods, _ := r.ListPods(ctx); len(pods) != 2 {
		t.Fatalf("list: %d pods", len(pods))
	}
}
