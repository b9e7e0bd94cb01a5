package apiserver

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// jobHooks give a Job without a manual selector the selector and pod
// labels upstream generates from its UID, so its pods never match another
// Job's.
var jobHooks = hooks{
	prepareForCreate: func(_ context.Context, obj runtime.Object) {
		job := obj.(*batchv1.Job)
		if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
			return
		}
		uid := string(job.UID)
		if job.Spec.Template.Labels == nil {
			job.Spec.Template.Labels = map[string]string{}
		}
		for k, v := range map[string]string{
			batchv1.ControllerUidLabel: uid, "controller-uid": uid,
			batchv1.JobNameLabel: job.Name, "job-name": job.Name,
		} {
			job.Spec.Template.Labels[k] = v
		}
		if job.Spec.Selector == nil {
			job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
		}
	},
}
