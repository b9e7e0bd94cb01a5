package job

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	core "k8s.io/client-go/testing"
)

// perIndexJob is an Indexed Job with backoffLimitPerIndex and, as the
// API defaults it then, no global backoffLimit to speak of.
func perIndexJob(name string, completions, parallelism, perIndex int32) *batchv1.Job {
	job := newJob(name, completions, parallelism)
	job.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
	job.Spec.BackoffLimit = nil
	job.Spec.BackoffLimitPerIndex = &perIndex
	return job
}

// withFailures sets the failure count an index's pod carries.
func withFailures(n int) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Annotations[batchv1.JobIndexFailureCountAnnotation] = fmt.Sprint(n)
	}
}

// setPod shows a pod's new state to the controller, as the informer would.
func (f *fixture) setPod(old, cur *corev1.Pod) {
	cur.ResourceVersion = fmt.Sprintf("%s-%d", cur.ResourceVersion, f.rv)
	f.rv++
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Update(cur)
	f.ctrl.updatePod(old, cur)
}

func (f *fixture) removePod(p *corev1.Pod) {
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(p)
	f.ctrl.deletePod(p)
}

// An index's failed pod is held until its replacement (created after
// the index's own backoff, carrying the count) exists; the index fails
// once a pod fails with backoffLimitPerIndex failures behind it, and the
// Job fails with FailedIndexes once every index is done.
func TestBackoffLimitPerIndex(t *testing.T) {
	f := newFixture(t)
	job := perIndexJob("idx", 2, 2, 1)
	f.jobs = append(f.jobs, job)
	a := testPod(job, "a", corev1.PodFailed, withIndex(0), withFailures(0))
	b := testPod(job, "b", corev1.PodRunning, withIndex(1), withFailures(0))
	f.pods = append(f.pods, a, b)
	f.start()

	// Index 0 backs off 10s on its first failure; its pod is kept.
	if d := f.sync("idx"); d != 10*time.Second {
		t.Fatalf("requeue after %v, want 10s", d)
	}
	f.expectActions("update jobs/status")
	got := f.refresh("idx")
	if got.Status.Failed != 0 || got.Status.FailedIndexes == nil || *got.Status.FailedIndexes != "" {
		t.Fatalf("status %+v", got.Status)
	}

	// The replacement carries the index's failure.
	f.clock.Step(10 * time.Second)
	f.sync("idx")
	f.expectActions("create pods", "update jobs/status")
	created := f.createdPods()
	if len(created) != 1 || podIndex(created[0]) != 0 ||
		created[0].Annotations[batchv1.JobIndexFailureCountAnnotation] != "1" {
		t.Fatalf("created %+v", created)
	}
	a2 := created[0].DeepCopy()
	a2.UID = "uid-a2"
	a2.Status.Phase = corev1.PodRunning
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(a2)
	f.ctrl.addPod(a2)
	f.refresh("idx")

	// Now the old pod is counted and let go.
	f.sync("idx")
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	if got := f.refresh("idx"); got.Status.Failed != 1 || *got.Status.FailedIndexes != "" {
		t.Fatalf("status %+v", got.Status)
	}
	f.removePod(a)

	// The replacement fails with one failure behind it: index 0 is done
	// for, and not run again.
	a2Failed := a2.DeepCopy()
	a2Failed.Status.Phase = corev1.PodFailed
	f.setPod(a2, a2Failed)
	if d := f.sync("idx"); d != 0 {
		t.Errorf("requeue after %v for a failed index", d)
	}
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	got = f.refresh("idx")
	if got.Status.Failed != 2 || *got.Status.FailedIndexes != "0" || cond(got, batchv1.JobFailureTarget) != nil {
		t.Fatalf("status %+v", got.Status)
	}
	f.removePod(a2Failed)

	// Index 1 succeeds: all indexes are done, one failed.
	bDone := b.DeepCopy()
	bDone.Status.Phase = corev1.PodSucceeded
	f.setPod(b, bDone)
	f.sync("idx")
	got = f.job("idx")
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		if c := cond(got, ct); c == nil || c.Reason != batchv1.JobReasonFailedIndexes {
			t.Errorf("condition %s: %+v", ct, c)
		}
	}
	if got.Status.CompletedIndexes != "1" || *got.Status.FailedIndexes != "0" || len(f.createdPods()) != 0 {
		t.Errorf("status %+v, created %d", got.Status, len(f.createdPods()))
	}
}

func TestMaxFailedIndexesExceeded(t *testing.T) {
	f := newFixture(t)
	job := perIndexJob("idx", 4, 4, 0)
	job.Spec.MaxFailedIndexes = ptrTo(int32(1))
	f.jobs = append(f.jobs, job)
	for i, phase := range []corev1.PodPhase{corev1.PodFailed, corev1.PodFailed, corev1.PodRunning, corev1.PodRunning} {
		f.pods = append(f.pods, testPod(job, fmt.Sprint("p", i), phase, withIndex(i), withFailures(0)))
	}
	f.start()
	f.sync("idx")
	// Record, stop the running pods, let the failed go, count.
	f.expectActions("update jobs/status", "delete pods", "delete pods", "patch pods", "patch pods", "update jobs/status")
	got := f.job("idx")
	if c := cond(got, batchv1.JobFailureTarget); c == nil || c.Reason != batchv1.JobReasonMaxFailedIndexesExceeded {
		t.Errorf("FailureTarget: %+v", c)
	}
	if got.Status.Failed != 2 || *got.Status.FailedIndexes != "0,1" || cond(got, batchv1.JobFailed) != nil {
		t.Errorf("status %+v", got.Status)
	}
}

// Within maxFailedIndexes the other indexes go on.
func TestFailedIndexWithinMaxFailedIndexes(t *testing.T) {
	f := newFixture(t)
	job := perIndexJob("idx", 3, 3, 0)
	job.Spec.MaxFailedIndexes = ptrTo(int32(1))
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "p0", corev1.PodFailed, withIndex(0), withFailures(0)))
	f.start()
	f.sync("idx")
	created := f.createdPods()
	if len(created) != 2 || podIndex(created[0]) == 0 || podIndex(created[1]) == 0 {
		t.Fatalf("created %d pods", len(created))
	}
	for _, p := range created {
		if p.Annotations[batchv1.JobIndexFailureCountAnnotation] != "0" {
			t.Errorf("pod for index %d: annotations %v", podIndex(p), p.Annotations)
		}
	}
	if got := f.job("idx"); *got.Status.FailedIndexes != "0" || cond(got, batchv1.JobFailureTarget) != nil {
		t.Errorf("status %+v", got.Status)
	}
}

// FailIndex fails the index at once, whatever budget is left; a failure
// no rule matches is retried.
func TestPodFailurePolicyFailIndex(t *testing.T) {
	f := newFixture(t)
	job := perIndexJob("idx", 2, 2, 3)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
	}}
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodFailed, withIndex(0), withFailures(0), exited("c", 42)),
		testPod(job, "b", corev1.PodFailed, withIndex(1), withFailures(0), exited("c", 1)))
	f.start()
	if v := judgeFailure(job, f.pods[0]); v.action != batchv1.PodFailurePolicyActionFailIndex {
		t.Fatalf("verdict %s", v.action)
	}
	if d := f.sync("idx"); d != 10*time.Second {
		t.Errorf("requeue after %v, want index 1's backoff", d)
	}
	// a is counted and let go; b is held for index 1's replacement.
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	got := f.job("idx")
	if got.Status.Failed != 1 || *got.Status.FailedIndexes != "0" || cond(got, batchv1.JobFailureTarget) != nil {
		t.Errorf("status %+v", got.Status)
	}
	if u := got.Status.UncountedTerminatedPods; u != nil && len(u.Failed) > 0 {
		t.Errorf("uncounted %v", u.Failed)
	}
	if patched := f.client.Actions()[1].(core.PatchAction).GetName(); patched != "a" {
		t.Errorf("patched %s, want a", patched)
	}
}

// A Job that fails lets its held pods go, counted.
func TestHeldPodsReleasedWhenJobFails(t *testing.T) {
	f := newFixture(t)
	job := perIndexJob("idx", 2, 2, 1)
	job.Spec.BackoffLimit = ptrTo(int32(0)) // set explicitly: still applies
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodFailed, withIndex(0), withFailures(0)))
	f.start()
	f.sync("idx")
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	got := f.job("idx")
	if c := cond(got, batchv1.JobFailed); c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded || got.Status.Failed != 1 {
		t.Errorf("status %+v", got.Status)
	}
}

func TestIndexFailureCounts(t *testing.T) {
	job := perIndexJob("idx", 1, 1, 2)
	p := testPod(job, "a", corev1.PodFailed, withIndex(0), withFailures(2))
	p.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = "1"
	if c, i := indexFailureCounts(p); c != 2 || i != 1 {
		t.Errorf("counts %d %d", c, i)
	}
	if !indexFailed(job, failure{p, failurePolicyVerdict{action: batchv1.PodFailurePolicyActionCount}}) {
		t.Error("index with 2 failures behind a failed pod and a budget of 2 not failed")
	}
	if indexFailed(job, failure{p, failurePolicyVerdict{action: batchv1.PodFailurePolicyActionIgnore}}) {
		t.Error("an ignored failure failed the index")
	}
	// The replacement of an ignored failure counts it apart.
	next := newPod(job, 0)
	setIndexFailureCounts(next, failure{p, failurePolicyVerdict{action: batchv1.PodFailurePolicyActionIgnore}})
	if c, i := indexFailureCounts(next); c != 2 || i != 2 {
		t.Errorf("replacement counts %d %d", c, i)
	}
	p.Annotations[batchv1.JobIndexFailureCountAnnotation] = "-3"
	if c, _ := indexFailureCounts(p); c != 0 {
		t.Errorf("malformed count read as %d", c)
	}
}
