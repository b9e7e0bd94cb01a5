package integration

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestJobPodFailurePolicy: a pod's exit code that a FailJob rule names
// fails the Job at once, reason PodFailurePolicy, without spending the
// backoff limit on retries.
func TestJobPodFailurePolicy(t *testing.T) {
	c := clientset(t)
	lbl := map[string]string{"corral.test/job": "failure-policy"}
	startLabeledNodes(t, "jfp", 1, lbl)
	waitNodesReady(t, c, "jfp")
	ns := newNamespace(t, "job-failure-policy")

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
