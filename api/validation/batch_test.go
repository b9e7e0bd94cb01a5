package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// indexedJob is a valid Indexed Job of 5 completions with the rules as
// its successPolicy.
func indexedJob(rules ...batchv1.SuccessPolicyRule) *batchv1.Job {
	return with(validJob(), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
		j.Spec.Completions, j.Spec.Parallelism = ptr(int32(5)), ptr(int32(5))
		if rules != nil {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: rules}
		}
	})
}

func TestValidSuccessPolicy(t *testing.T) {
	for _, rule := range []batchv1.SuccessPolicyRule{
		{SucceededIndexes: ptr("0,2-4")},
		{SucceededIndexes: ptr("1,3"), SucceededCount: ptr(int32(2))},
		{SucceededCount: ptr(int32(5))},
		{SucceededIndexes: ptr("0-1,2,3-4")}, // adjacent, not overlapping
	} {
		if errs := ValidateCreate(indexedJob(rule)); len(errs) > 0 {
			t.Errorf("rule %+v: %v", rule, errs)
		}
	}
}

func TestInvalidSuccessPolicy(t *testing.T) {
	rule := batchv1.SuccessPolicyRule{SucceededCount: ptr(int32(1))}
	manyRules := make([]batchv1.SuccessPolicyRule, 21)
	for i := range manyRules {
		manyRules[i] = rule
	}
	rules := "spec.successPolicy.rules"
	tests := []struct {
		name string
		job  *batchv1.Job
		path string
		typ  field.ErrorType
	}{
		{"non-indexed", with(validJob(), func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{rule}}
		}), "spec.successPolicy", field.ErrorTypeInvalid},
		{"no rules", with(indexedJob(), func(j *batchv1.Job) { j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{} }),
			rules, field.ErrorTypeRequired},
		{"too many rules", indexedJob(manyRules...), rules, field.ErrorTypeTooMany},
		{"empty rule", indexedJob(batchv1.SuccessPolicyRule{}), rules + "[0]", field.ErrorTypeRequired},
		{"count above completions", indexedJob(batchv1.SuccessPolicyRule{SucceededCount: ptr(int32(6))}),
			rules + "[0].succeededCount", field.ErrorTypeInvalid},
		{"negative count", indexedJob(batchv1.SuccessPolicyRule{SucceededCount: ptr(int32(-1))}),
			rules + "[0].succeededCount", field.ErrorTypeInvalid},
		{"count above the indexes", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("1,3"), SucceededCount: ptr(int32(3))}),
			rules + "[0].succeededCount", field.ErrorTypeInvalid},
		{"index out of range", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("1,5")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"interval out of range", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("3-7")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"decreasing interval", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("3-1")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"unordered", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("2,0")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"overlapping", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("0-2,2-3")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"not a number", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("0,x")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"three bounds", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr("0-1-2")}),
			rules + "[0].succeededIndexes", field.ErrorTypeInvalid},
		{"too long", indexedJob(batchv1.SuccessPolicyRule{SucceededIndexes: ptr(strings.Repeat("1", 64*1024+1))}),
			rules + "[0].succeededIndexes", field.ErrorTypeTooLong},
	}
	cron := with(validCronJob(), func(c *batchv1.CronJob) {
		c.Spec.JobTemplate.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{rule}}
	})
	expectError(t, ValidateCreate(cron), "spec.jobTemplate.spec.successPolicy", field.ErrorTypeInvalid)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, ValidateCreate(tc.job), tc.path, tc.typ)
		})
	}
}

func TestSuccessPolicyImmutable(t *testing.T) {
	old := indexedJob(batchv1.SuccessPolicyRule{SucceededCount: ptr(int32(1))})
	cur := indexedJob(batchv1.SuccessPolicyRule{SucceededCount: ptr(int32(2))})
	expectError(t, ValidateUpdate(cur, old), "spec.successPolicy", field.ErrorTypeInvalid)
}

func TestBackoffLimitPerIndexValidation(t *testing.T) {
	perIndex := func(change func(*batchv1.Job)) *batchv1.Job {
		return with(indexedJob(), func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr(int32(1))
			change(j)
		})
	}
	if errs := ValidateCreate(perIndex(func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr(int32(5)) })); len(errs) > 0 {
		t.Errorf("valid job: %v", errs)
	}
	failIndex := batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailIndex,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
	tests := []struct {
		name string
		job  *batchv1.Job
		path string
		typ  field.ErrorType
	}{
		{"maxFailedIndexes above completions", perIndex(func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr(int32(6)) }),
			"spec.maxFailedIndexes", field.ErrorTypeInvalid},
		{"negative maxFailedIndexes", perIndex(func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr(int32(-1)) }),
			"spec.maxFailedIndexes", field.ErrorTypeInvalid},
		{"maxFailedIndexes without backoffLimitPerIndex", with(indexedJob(), func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr(int32(1)) }),
			"spec.backoffLimitPerIndex", field.ErrorTypeRequired},
		{"FailIndex without backoffLimitPerIndex", with(indexedJob(), func(j *batchv1.Job) { j.Spec.PodFailurePolicy = failIndex.DeepCopy() }),
			"spec.podFailurePolicy.rules[0].action", field.ErrorTypeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, ValidateCreate(tc.job), tc.path, tc.typ)
		})
	}
	if errs := ValidateCreate(perIndex(func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy, j.Spec.PodReplacementPolicy = failIndex.DeepCopy(), ptr(batchv1.Failed)
	})); len(errs) > 0 {
		t.Errorf("FailIndex with backoffLimitPerIndex: %v", errs)
	}
}
