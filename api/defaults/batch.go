package defaults

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// SetJobDefaults defaults a batch/v1 Job. The selector and controller-uid
// labels are not generated here: upstream does that at create time.
func SetJobDefaults(job *batchv1.Job) {
	spec := &job.Spec
	// A job with neither set is a single-pod job; only parallelism
	// defaults when completions is set, so a work queue stays open-ended.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo(int32(1))
	}
	defaultPtr(&spec.Parallelism, int32(1))
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			// Per-index limits take over; the global limit must not interfere.
			spec.BackoffLimit = ptrTo(int32(math.MaxInt32))
		} else {
			spec.BackoffLimit = ptrTo(int32(6))
		}
	}
	// Upstream copies template labels onto a Job that has none.
	if job.Spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = job.Spec.Template.Labels
	}
	defaultPtr(&spec.CompletionMode, batchv1.NonIndexedCompletion)
	defaultPtr(&spec.Suspend, false)
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				defaultString(&rule.OnPodConditions[i].Status, corev1.ConditionTrue)
			}
		}
		defaultPtr(&spec.PodReplacementPolicy, batchv1.Failed)
	}
	defaultPtr(&spec.PodReplacementPolicy, batchv1.TerminatingOrFailed)
	SetPodTemplateSpecDefaults(&spec.Template)
}

// setCronJobDefaults defaults a CronJob. Like upstream, the job template
// only gets pod template defaults, not the Job spec ones: those are applied
// when the controller creates each Job.
func setCronJobDefaults(cj *batchv1.CronJob) {
	spec := &cj.Spec
	defaultString(&spec.ConcurrencyPolicy, batchv1.AllowConcurrent)
	defaultPtr(&spec.Suspend, false)
	defaultPtr(&spec.SuccessfulJobsHistoryLimit, int32(3))
	defaultPtr(&spec.FailedJobsHistoryLimit, int32(1))
	SetPodTemplateSpecDefaults(&spec.JobTemplate.Spec.Template)
}
