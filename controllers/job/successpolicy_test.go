package job

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

func successPolicyJob(name string, completions int32, rules ...batchv1.SuccessPolicyRule) *batchv1.Job {
	job := newJob(name, completions, completions)
	job.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
	job.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: rules}
	return job
}

// indexedPods gives the Job one pod per index, in the given phases.
func indexedPods(job *batchv1.Job, phases ...corev1.PodPhase) []*corev1.Pod {
	var out []*corev1.Pod
	for i, phase := range phases {
		out = append(out, testPod(job, fmt.Sprint("p", i), phase, withIndex(i)))
	}
	return out
}

// expectSuccessPolicyMet checks SuccessCriteriaMet (reason SuccessPolicy)
// and, when complete, Complete after it with the same reason.
func expectSuccessPolicyMet(t *testing.T, got *batchv1.Job, msg string, complete bool) {
	t.Helper()
	met := cond(got, batchv1.JobSuccessCriteriaMet)
	if met == nil || met.Reason != batchv1.JobReasonSuccessPolicy || met.Message != msg {
		t.Fatalf("SuccessCriteriaMet: %+v", met)
	}
	done := cond(got, batchv1.JobComplete)
	if !complete {
		if done != nil || got.Status.CompletionTime != nil {
			t.Fatalf("Complete before the pods are gone: %+v", got.Status)
		}
		return
	}
	if done == nil || done.Reason != batchv1.JobReasonSuccessPolicy || got.Status.CompletionTime == nil {
		t.Fatalf("status %+v", got.Status)
	}
	if got.Status.Conditions[len(got.Status.Conditions)-1].Type != batchv1.JobComplete {
		t.Errorf("Complete not after SuccessCriteriaMet: %+v", got.Status.Conditions)
	}
}

func TestSuccessPolicySucceededIndexes(t *testing.T) {
	f := newFixture(t)
	job := successPolicyJob("sp", 5, batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("0,2-3")})
	f.jobs = append(f.jobs, job)
	f.pods = indexedPods(job, corev1.PodSucceeded, corev1.PodRunning, corev1.PodSucceeded, corev1.PodSucceeded, corev1.PodRunning)
	f.start()
	f.sync("sp")
	// Record, stop the two running pods, let the succeeded go, count.
	f.expectActions("update jobs/status", "delete pods", "delete pods",
		"patch pods", "patch pods", "patch pods", "update jobs/status")
	got := f.refresh("sp")
	expectSuccessPolicyMet(t, got, "Matched rules at index 0", false)
	if got.Status.CompletedIndexes != "0,2,3" || got.Status.Succeeded != 3 {
		t.Fatalf("status %+v", got.Status)
	}

	// The stopped pods end and go: Complete follows, nothing is created.
	for _, i := range []int{1, 4} {
		f.removePod(f.pods[i])
	}
	f.clock.Step(time.Second)
	f.sync("sp")
	got = f.job("sp")
	expectSuccessPolicyMet(t, got, "Matched rules at index 0", true)
	if len(f.createdPods()) != 0 || got.Status.Active != 0 {
		t.Errorf("status %+v, created %d", got.Status, len(f.createdPods()))
	}
}

func TestSuccessPolicySucceededCount(t *testing.T) {
	f := newFixture(t)
	job := successPolicyJob("sp", 5,
		batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("0"), SucceededCount: ptrTo(int32(1))},
		batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(2))})
	f.jobs = append(f.jobs, job)
	f.pods = indexedPods(job, corev1.PodRunning, corev1.PodSucceeded, corev1.PodRunning, corev1.PodRunning, corev1.PodSucceeded)
	f.start()
	f.sync("sp")
	f.expectActions("update jobs/status", "delete pods", "delete pods", "delete pods",
		"patch pods", "patch pods", "update jobs/status")
	expectSuccessPolicyMet(t, f.job("sp"), "Matched rules at index 1", false)
}

// Until a rule is met the Job runs as usual.
func TestSuccessPolicyNotMet(t *testing.T) {
	f := newFixture(t)
	job := successPolicyJob("sp", 4, batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("0-2"), SucceededCount: ptrTo(int32(3))},
		batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(3))})
	f.jobs = append(f.jobs, job)
	f.pods = indexedPods(job, corev1.PodSucceeded, corev1.PodRunning, corev1.PodRunning, corev1.PodSucceeded)
	f.start()
	f.sync("sp")
	f.expectActions("update jobs/status", "patch pods", "patch pods", "update jobs/status")
	if got := f.job("sp"); cond(got, batchv1.JobSuccessCriteriaMet) != nil || got.Status.CompletedIndexes != "0,3" {
		t.Errorf("status %+v", got.Status)
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	cases := []struct {
		rule      batchv1.SuccessPolicyRule
		succeeded []int
		met       bool
	}{
		{batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("1,3-5")}, []int{1, 3, 4, 5}, true},
		{batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("1,3-5")}, []int{0, 1, 2, 3, 4, 6}, false},
		{batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("1,3-5"), SucceededCount: ptrTo(int32(2))}, []int{0, 2, 4, 5}, true},
		{batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("1,3-5"), SucceededCount: ptrTo(int32(2))}, []int{0, 2, 5, 6}, false},
		{batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(3))}, []int{0, 7, 9}, true},
		{batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(3))}, []int{0, 7}, false},
		// Indexes beyond completions never succeed.
		{batchv1.SuccessPolicyRule{SucceededIndexes: ptrTo("12-14")}, []int{0, 1}, false},
		// Nothing succeeded: not met, whatever the rule.
		{batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(0))}, nil, false},
	}
	for _, c := range cases {
		job := successPolicyJob("sp", 10, c.rule)
		if _, met := matchSuccessPolicy(job, sets.New(c.succeeded...)); met != c.met {
			t.Errorf("rule %+v, succeeded %v: met %v", c.rule, c.succeeded, met)
		}
	}
	nonIndexed := successPolicyJob("sp", 10, batchv1.SuccessPolicyRule{SucceededCount: ptrTo(int32(1))})
	nonIndexed.Spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	if _, met := matchSuccessPolicy(nonIndexed, sets.New(0)); met {
		t.Error("success policy applied to a NonIndexed Job")
	}
}
