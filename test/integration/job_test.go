package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// jobCluster starts one simulated node of its own, labelled for the
// test's pods, and a namespace job-<name>.
func jobCluster(t *testing.T, node, name string) (kubernetes.Interface, map[string]string, string) {
	c := clientset(t)
	lbl := map[string]string{"corral.test/job": name}
	startLabeledNodes(t, node, 1, lbl)
	waitNodesReady(t, c, node)
	return c, lbl, newNamespace(t, "job-"+name)
}

// TestJobPodFailurePolicy: a pod's exit code that a FailJob rule names
// fails the Job at once, reason PodFailurePolicy, without spending the
// backoff limit on retries.
func TestJobPodFailurePolicy(t *testing.T) {
	c, lbl, ns := jobCluster(t, "jfp", "failure-policy")

	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "bug"}, Spec: batchv1.JobSpec{
		BackoffLimit: ptr(int32(6)),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr("main"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}},
		}}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sim.corral.dev/run-for": "200ms", "sim.corral.dev/exit-code": "42"}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, NodeSelector: lbl,
				Containers: []corev1.Container{{Name: "main", Image: "busybox:1.36"}}}},
	}}
	if _, err := c.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *batchv1.Job
	eventually(t, "job failed by its podFailurePolicy", func(ctx context.Context) (bool, error) {
		j, err := c.BatchV1().Jobs(ns).Get(ctx, "bug", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = j
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	var failed *batchv1.JobCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == batchv1.JobFailed {
			failed = &got.Status.Conditions[i]
		}
	}
	if failed.Reason != batchv1.JobReasonPodFailurePolicy || got.Status.Failed != 1 {
		t.Errorf("failed with reason %q after %d failed pods (%s), want PodFailurePolicy after 1", failed.Reason, got.Status.Failed, failed.Message)
	}
}

// TestJobPerIndexAndSuccessPolicy: an Indexed Job whose pods all fail
// spends each index's own budget (backoffLimitPerIndex 1: a first try and
// one retry), lists the indexes in status.failedIndexes and fails with
// reason FailedIndexes; another, whose successPolicy asks for one
// succeeded index, completes (reason SuccessPolicy) after its first pod,
// without running the other indexes.
func TestJobPerIndexAndSuccessPolicy(t *testing.T) {
	c, lbl, ns := jobCluster(t, "jpi", "per-index")

	indexed := func(name string, completions, parallelism int32, exitCode string) *batchv1.Job {
		mode := batchv1.IndexedCompletion
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{
			CompletionMode: &mode, Completions: ptr(completions), Parallelism: ptr(parallelism),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"sim.corral.dev/run-for": "200ms", "sim.corral.dev/exit-code": exitCode}},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, NodeSelector: lbl,
					Containers: []corev1.Container{{Name: "main", Image: "busybox:1.36"}}}},
		}}
	}
	failing := indexed("failing", 2, 2, "3")
	failing.Spec.BackoffLimitPerIndex = ptr(int32(1))
	first := indexed("first", 3, 1, "0")
	first.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr(int32(1))}}}
	for _, j := range []*batchv1.Job{failing, first} {
		if _, err := c.BatchV1().Jobs(ns).Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	finished := func(name string) (*batchv1.Job, *batchv1.JobCondition) {
		var job *batchv1.Job
		var end *batchv1.JobCondition
		eventually(t, "job "+name+" finished", func(ctx context.Context) (bool, error) {
			j, err := c.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for i, cond := range j.Status.Conditions {
				if (cond.Type == batchv1.JobFailed || cond.Type == batchv1.JobComplete) && cond.Status == corev1.ConditionTrue {
					job, end = j, &j.Status.Conditions[i]
					return true, nil
				}
			}
			return false, nil
		})
		return job, end
	}
	j, end := finished("failing")
	if end.Type != batchv1.JobFailed || end.Reason != batchv1.JobReasonFailedIndexes || ptrDeref(j.Status.FailedIndexes) != "0,1" || j.Status.Failed != 4 {
		t.Errorf("failing job: %s (%s), failedIndexes %q, %d failed pods; want Failed (FailedIndexes), \"0,1\", 4",
			end.Type, end.Reason, ptrDeref(j.Status.FailedIndexes), j.Status.Failed)
	}
	j, end = finished("first")
	if end.Type != batchv1.JobComplete || end.Reason != batchv1.JobReasonSuccessPolicy || j.Status.Succeeded != 1 || j.Status.CompletedIndexes != "0" {
		t.Errorf("first job: %s (%s), %d succeeded, completedIndexes %q; want Complete (SuccessPolicy), 1, \"0\"",
			end.Type, end.Reason, j.Status.Succeeded, j.Status.CompletedIndexes)
	}
}

func ptrDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
