package validation

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Job pods run to completion, so a Job's template may not restart Always.
var jobPodOpts = podSpecOpts{restartPolicies: []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}}

var (
	completionModes        = []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}
	podReplacementPolicies = []batchv1.PodReplacementPolicy{batchv1.TerminatingOrFailed, batchv1.Failed}
	concurrencyPolicies    = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}
	podFailureActions      = []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionFailIndex,
		batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount}
)

// Upstream's bounds on what an Indexed Job's status and success policy
// may have to hold.
const (
	maxFailedIndexesLimit     = 100_000
	maxSuccessPolicyRules     = 20
	maxSucceededIndexesLength = 64 * 1024
)

// validateJob checks a Job. Its selector was generated at create time
// unless manualSelector is set; either way it must select the template.
func validateJob(job *batchv1.Job) field.ErrorList {
	spec := &job.Spec
	errs := validateSelector(spec.Selector, specPath.Child("selector"), "")
	if spec.Selector == nil {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	}
	errs = append(errs, validateSelectorMatchesTemplate(spec.Selector, spec.Template.Labels, specPath.Child("template"))...)
	return append(errs, validateJobSpec(spec, specPath)...)
}

func validateJobSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := validateNonnegativePtr(spec.Parallelism, p.Child("parallelism"))
	errs = append(errs, validateNonnegativePtr(spec.Completions, p.Child("completions"))...)
	errs = append(errs, validateNonnegativePtr(spec.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, validateNonnegativePtr(spec.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	if d := spec.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *d, "must be greater than zero"))
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		errs = append(errs, validateEnum(*spec.CompletionMode, p.Child("completionMode"), completionModes...)...)
	}
	if indexed && spec.Completions == nil {
		errs = append(errs, field.Required(p.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
	}
	if spec.BackoffLimitPerIndex != nil {
		errs = append(errs, validateNonnegative(int64(*spec.BackoffLimitPerIndex), p.Child("backoffLimitPerIndex"))...)
		if !indexed {
			errs = append(errs, field.Forbidden(p.Child("backoffLimitPerIndex"), "requires indexed completion mode"))
		}
	}
	if m := spec.MaxFailedIndexes; m != nil {
		mp := p.Child("maxFailedIndexes")
		errs = append(errs, validateNonnegative(int64(*m), mp)...)
		switch {
		case !indexed:
			errs = append(errs, field.Invalid(mp, *m, "requires indexed completion mode"))
		case spec.Completions != nil && *m > *spec.Completions:
			errs = append(errs, field.Invalid(mp, *m, "must be less than or equal to completions"))
		case *m > maxFailedIndexesLimit:
			errs = append(errs, field.Invalid(mp, *m, fmt.Sprintf("must be less than or equal to %d", maxFailedIndexesLimit)))
		}
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
	}
	if sp := spec.SuccessPolicy; sp != nil {
		if !indexed {
			errs = append(errs, field.Invalid(p.Child("successPolicy"), field.OmitValueType{}, "requires indexed completion mode"))
		} else {
			errs = append(errs, validateSuccessPolicy(sp, spec.Completions, p.Child("successPolicy"))...)
		}
	}
	if r := spec.PodReplacementPolicy; r != nil {
		errs = append(errs, validateEnum(*r, p.Child("podReplacementPolicy"), podReplacementPolicies...)...)
		if spec.PodFailurePolicy != nil && *r != batchv1.Failed {
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	tp := p.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp, jobPodOpts)...)
	if pfp := spec.PodFailurePolicy; pfp != nil {
		if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy,
				fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
		}
		for i, r := range pfp.Rules {
			rp := p.Child("podFailurePolicy", "rules").Index(i)
			errs = append(errs, validateRequiredEnum(r.Action, rp.Child("action"), podFailureActions...)...)
			if r.Action == batchv1.PodFailurePolicyActionFailIndex && spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(rp.Child("action"), r.Action, "requires the backoffLimitPerIndex to be set"))
			}
			if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
				errs = append(errs, field.Invalid(rp, "", "specifying one of OnExitCodes and OnPodConditions is required"))
			}
		}
	}
	return errs
}

// validateSuccessPolicy checks the rules of an Indexed Job's
// successPolicy as upstream does. completions is nil only for a spec
// already rejected for it.
func validateSuccessPolicy(sp *batchv1.SuccessPolicy, completions *int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := p.Child("rules")
	if len(sp.Rules) == 0 {
		errs = append(errs, field.Required(rulesPath, "at least one rule must be specified when successPolicy is specified"))
	}
	if len(sp.Rules) > maxSuccessPolicyRules {
		errs = append(errs, field.TooMany(rulesPath, len(sp.Rules), maxSuccessPolicyRules))
	}
	limit := int32(math.MaxInt32)
	if completions != nil {
		limit = *completions
	}
	for i, r := range sp.Rules {
		rp := rulesPath.Index(i)
		if r.SucceededIndexes == nil && r.SucceededCount == nil {
			errs = append(errs, field.Required(rp, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		// On a parse error the rule counts no index, as upstream.
		var total int32
		if r.SucceededIndexes != nil {
			ip := rp.Child("succeededIndexes")
			if len(*r.SucceededIndexes) > maxSucceededIndexesLength {
				errs = append(errs, field.TooLong(ip, "", maxSucceededIndexesLength))
			} else if n, err := countIndexes(*r.SucceededIndexes, limit); err != nil {
				errs = append(errs, field.Invalid(ip, *r.SucceededIndexes, "error parsing succeededIndexes: "+err.Error()))
			} else {
				total = n
			}
		}
		if c := r.SucceededCount; c != nil {
			cp := rp.Child("succeededCount")
			errs = append(errs, validateNonnegative(int64(*c), cp)...)
			if *c > limit {
				errs = append(errs, field.Invalid(cp, *c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", limit)))
			}
			if r.SucceededIndexes != nil && *c > total {
				errs = append(errs, field.Invalid(cp, *c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", total)))
			}
		}
	}
	return errs
}

// countIndexes checks an index list such as "1,3-5": decimal indexes
// below completions, each interval increasing and after the previous one
// (so none overlap). It returns how many indexes the list holds.
func countIndexes(s string, completions int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var total int32
	last := int64(-1)
	for _, part := range strings.Split(s, ",") {
		bounds := strings.Split(part, "-")
		if len(bounds) > 2 {
			return 0, fmt.Errorf("the fragment %q violates the requirement that an index interval can have at most two parts separated by '-'", part)
		}
		var lohi [2]int64
		for j, b := range bounds {
			v, err := strconv.ParseInt(b, 10, 32)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("cannot convert string to integer for index: %q", b)
			}
			if v >= int64(completions) {
				return 0, fmt.Errorf("too large index: %q", b)
			}
			lohi[j] = v
		}
		lo, hi := lohi[0], lohi[0]
		if len(bounds) == 2 {
			if hi = lohi[1]; lo >= hi {
				return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", lo, hi)
			}
		}
		if lo <= last {
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", last, lo)
		}
		total += int32(hi - lo + 1)
		last = hi
	}
	return total, nil
}

// validateJobUpdate keeps what the job controller has acted upon. The pod
// template may only change its scheduling directives, and only while the
// Job is suspended and has never started, as upstream allows.
func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	spec, oldSpec := &job.Spec, &old.Spec
	errs := immutable(spec.Selector, oldSpec.Selector, specPath.Child("selector"))
	errs = append(errs, immutable(spec.CompletionMode, oldSpec.CompletionMode, specPath.Child("completionMode"))...)
	errs = append(errs, immutable(spec.PodFailurePolicy, oldSpec.PodFailurePolicy, specPath.Child("podFailurePolicy"))...)
	errs = append(errs, immutable(spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex, specPath.Child("backoffLimitPerIndex"))...)
	errs = append(errs, immutable(spec.ManagedBy, oldSpec.ManagedBy, specPath.Child("managedBy"))...)
	errs = append(errs, immutable(spec.SuccessPolicy, oldSpec.SuccessPolicy, specPath.Child("successPolicy"))...)

	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !equality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) {
		switch {
		case !indexed:
			errs = append(errs, immutable(spec.Completions, oldSpec.Completions, specPath.Child("completions"))...)
		case spec.Completions == nil || spec.Parallelism == nil || *spec.Completions != *spec.Parallelism:
			// Elastic indexed jobs scale completions and parallelism together.
			errs = append(errs, field.Invalid(specPath.Child("completions"), spec.Completions,
				"can only be modified in tandem with spec.parallelism"))
		}
	}

	tmpl := old.Spec.Template.DeepCopy()
	if old.Spec.Suspend != nil && *old.Spec.Suspend && old.Status.StartTime == nil {
		ts := &spec.Template
		tmpl.Labels, tmpl.Annotations = ts.Labels, ts.Annotations
		tmpl.Spec.NodeSelector, tmpl.Spec.Affinity = ts.Spec.NodeSelector, ts.Spec.Affinity
		tmpl.Spec.Tolerations, tmpl.Spec.SchedulingGates = ts.Spec.Tolerations, ts.Spec.SchedulingGates
	}
	errs = append(errs, immutable(spec.Template, *tmpl, specPath.Child("template"))...)
	return errs
}

func validateJobStatusUpdate(job, _ *batchv1.Job) field.ErrorList {
	st := &job.Status
	errs := validateReplicaCounts(map[string]int32{"active": st.Active, "succeeded": st.Succeeded, "failed": st.Failed})
	errs = append(errs, validateNonnegativePtr(st.Ready, statusPath.Child("ready"))...)
	errs = append(errs, validateNonnegativePtr(st.Terminating, statusPath.Child("terminating"))...)
	return errs
}

// maxCronJobNameLength leaves room for the 11-character suffix the
// controller appends to name each Job, which must still be a DNS label.
const maxCronJobNameLength = 52

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	var errs field.ErrorList
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(metaPath.Child("name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	spec := &cj.Spec
	sp := specPath.Child("schedule")
	switch {
	case spec.Schedule == "":
		errs = append(errs, field.Required(sp, ""))
	case strings.Contains(spec.Schedule, "TZ"):
		errs = append(errs, field.Invalid(sp, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	default:
		if err := parseCronSchedule(spec.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, spec.Schedule, err.Error()))
		}
	}
	if tz := spec.TimeZone; tz != nil {
		tzp := specPath.Child("timeZone")
		if strings.EqualFold(*tz, "Local") {
			errs = append(errs, field.Invalid(tzp, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
		} else if _, err := time.LoadLocation(*tz); err != nil {
			errs = append(errs, field.Invalid(tzp, *tz, err.Error()))
		}
	}
	errs = append(errs, validateRequiredEnum(spec.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"), concurrencyPolicies...)...)
	errs = append(errs, validateNonnegativePtr(spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	errs = append(errs, validateNonnegativePtr(spec.SuccessfulJobsHistoryLimit, specPath.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, validateNonnegativePtr(spec.FailedJobsHistoryLimit, specPath.Child("failedJobsHistoryLimit"))...)

	jp := specPath.Child("jobTemplate")
	jt := &spec.JobTemplate
	errs = append(errs, validateLabels(jt.Labels, jp.Child("metadata", "labels"))...)
	errs = append(errs, validateJobSpec(&jt.Spec, jp.Child("spec"))...)
	// Each Job the controller creates gets its own generated selector.
	if jt.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), jt.Spec.Selector, "`selector` will be auto-generated"))
	}
	if ms := jt.Spec.ManualSelector; ms != nil && *ms {
		errs = append(errs, field.NotSupported(jp.Child("spec", "manualSelector"), *ms, []string{"nil", "false"}))
	}
	return errs
}
