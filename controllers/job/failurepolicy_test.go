package job

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func exited(container string, code int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}})
	}
}

func withCondition(t corev1.PodConditionType) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue})
	}
}

// A policy as upstream's documentation shows it: exit code 42 of "main"
// is a bug (fail the Job), a disruption is not the pod's fault (ignore).
func policyJob() *batchv1.Job {
	job := newJob("pi", 1, 1)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptrTo("main"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{1}}},
	}}
	return job
}

func TestJudgeFailure(t *testing.T) {
	job := policyJob()
	cases := []struct {
		name string
		pod  *corev1.Pod
		want batchv1.PodFailurePolicyAction
		msg  string
	}{
		{"exit 42 of main", testPod(job, "a", corev1.PodFailed, exited("main", 42)), batchv1.PodFailurePolicyActionFailJob,
			"Container main for pod default/a failed with exit code 42 matching FailJob rule at index 0"},
		{"exit 42 of a sidecar", testPod(job, "b", corev1.PodFailed, exited("side", 42)), batchv1.PodFailurePolicyActionCount, ""},
		{"disrupted", testPod(job, "c", corev1.PodFailed, exited("main", 137), withCondition(corev1.DisruptionTarget)),
			batchv1.PodFailurePolicyActionIgnore, "Pod default/c has condition DisruptionTarget matching Ignore rule at index 1"},
		{"exit 1: no rule", testPod(job, "d", corev1.PodFailed, exited("main", 1)), batchv1.PodFailurePolicyActionCount, ""},
		{"exit 0 is never a failure code", testPod(job, "e", corev1.PodFailed, exited("main", 0)), batchv1.PodFailurePolicyActionCount, ""},
	}
	for _, c := range cases {
		v := judgeFailure(job, c.pod)
		if v.action != c.want || (c.msg != "" && v.message != c.msg) {
			t.Errorf("%s: %s %q, want %s %q", c.name, v.action, v.message, c.want, c.msg)
		}
	}
	if v := judgeFailure(newJob("plain", 1, 1), cases[0].pod); v.action != batchv1.PodFailurePolicyActionCount {
		t.Errorf("without a policy: %s", v.action)
	}
}

func TestPodFailurePolicyFailJob(t *testing.T) {
	f := newFixture(t)
	job := policyJob()
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodFailed, exited("main", 42)))
	f.start()
	f.sync("pi")
	got := f.job("pi")
	if got.Status.Failed != 1 {
		t.Errorf("failed = %d, want 1", got.Status.Failed)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		if c := cond(got, ct); c == nil || c.Reason != batchv1.JobReasonPodFailurePolicy {
			t.Errorf("condition %s: %+v", ct, c)
		}
	}
	if len(f.createdPods()) != 0 {
		t.Error("a replacement was created for a Job that failed")
	}
}

func TestPodFailurePolicyIgnore(t *testing.T) {
	f := newFixture(t)
	job := policyJob()
	job.Spec.BackoffLimit = ptrTo(int32(0))
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodFailed, withCondition(corev1.DisruptionTarget)))
	f.start()
	// Not counted (even with backoffLimit 0), no backoff: released and
	// replaced at once.
	if d := f.sync("pi"); d != 0 {
		t.Errorf("requeue after %v, want none (no backoff)", d)
	}
	f.expectActions("patch pods", "create pods", "update jobs/status")
	got := f.job("pi")
	if got.Status.Failed != 0 || cond(got, batchv1.JobFailureTarget) != nil {
		t.Errorf("failed = %d, conditions %+v", got.Status.Failed, got.Status.Conditions)
	}
}

// With a policy, a pod being deleted is not failed (nor replaced) until
// its phase says so: podReplacementPolicy defaults to Failed.
func TestPodFailurePolicyWaitsForTerminatingPods(t *testing.T) {
	f := newFixture(t)
	job := policyJob()
	f.jobs = append(f.jobs, job)
	p := testPod(job, "a", corev1.PodRunning)
	p.DeletionTimestamp = ptrTo(p.CreationTimestamp)
	f.pods = append(f.pods, p)
	f.start()
	f.sync("pi")
	if len(f.createdPods()) != 0 || f.job("pi").Status.Failed != 0 {
		t.Errorf("terminating pod replaced or counted before it failed: %v", f.actions())
	}
}
