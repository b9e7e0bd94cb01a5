package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// matchSuccessPolicy reports whether the succeeded indexes of an Indexed
// Job meet a rule of its spec.successPolicy, and upstream's message
// naming the first rule met. A rule with succeededIndexes is met when
// all of them succeeded, or succeededCount of them; one with only
// succeededCount when that many indexes succeeded. The Job then gets
// SuccessCriteriaMet, its remaining pods are stopped, and Complete
// follows once they are gone.
func matchSuccessPolicy(job *batchv1.Job, succeeded sets.Set[int]) (string, bool) {
	policy := job.Spec.SuccessPolicy
	if policy == nil || !isIndexed(job) || succeeded.Len() == 0 {
		return "", false
	}
	completions := int(*job.Spec.Completions)
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			want := parseIndexes(*rule.SucceededIndexes, completions)
			if want.Len() == 0 {
				continue // unparsable or out of range: validation should have caught it
			}
			got := want.Intersection(succeeded).Len()
			met = got == want.Len() || (rule.SucceededCount != nil && got >= int(*rule.SucceededCount))
		case rule.SucceededCount != nil:
			met = succeeded.Len() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}
