package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// failurePolicyVerdict is what spec.podFailurePolicy says of one failed
// pod: the action of the first rule it matches (Count when none does,
// as upstream) and the matching rule's message (the Job's condition
// message for FailJob).
type failurePolicyVerdict struct {
	action  batchv1.PodFailurePolicyAction
	message string
}

// judgeFailure applies the Job's podFailurePolicy to a failed pod. Rules
// are tried in order; the first that matches decides. FailIndex counts
// the failure and, with backoffLimitPerIndex, fails the pod's index at
// once (perindex.go); validation allows it only with backoffLimitPerIndex.
func judgeFailure(job *batchv1.Job, pod *corev1.Pod) failurePolicyVerdict {
	policy := job.Spec.PodFailurePolicy
	if policy == nil {
		return failurePolicyVerdict{action: batchv1.PodFailurePolicyActionCount}
	}
	for i := range policy.Rules {
		rule := &policy.Rules[i]
		var matched string
		if rule.OnExitCodes != nil {
			matched = matchExitCodes(rule.OnExitCodes, pod, rule.Action, i)
		} else {
			matched = matchConditions(rule.OnPodConditions, pod, rule.Action, i)
		}
		if matched == "" {
			continue
		}
		return failurePolicyVerdict{action: rule.Action, message: matched}
	}
	return failurePolicyVerdict{action: batchv1.PodFailurePolicyActionCount}
}

// matchExitCodes looks at the terminated containers (init containers
// too) with a non-zero exit code, as upstream; it returns upstream's
// condition message on a match, or "".
func matchExitCodes(req *batchv1.PodFailurePolicyOnExitCodesRequirement, pod *corev1.Pod, action batchv1.PodFailurePolicyAction, index int) string {
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if req.ContainerName != nil && *req.ContainerName != cs.Name {
			continue
		}
		t := cs.State.Terminated
		if t == nil || t.ExitCode == 0 {
			continue
		}
		in := slices.Contains(req.Values, t.ExitCode)
		if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
			return fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
				cs.Name, pod.Namespace, pod.Name, t.ExitCode, action, index)
		}
	}
	return ""
}

// matchConditions: any pattern matching a condition of the pod (status
// True unless the pattern says otherwise).
func matchConditions(patterns []batchv1.PodFailurePolicyOnPodConditionsPattern, pod *corev1.Pod, action batchv1.PodFailurePolicyAction, index int) string {
	for _, p := range patterns {
		want := p.Status
		if want == "" {
			want = corev1.ConditionTrue
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == p.Type && c.Status == want {
				return fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
					pod.Namespace, pod.Name, c.Type, action, index)
			}
		}
	}
	return ""
}
