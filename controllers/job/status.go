package job

import (
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion &&
		job.Spec.Completions != nil
}

// completed reports whether the success criteria are met: enough
// successes, or for a work queue Job (no completions) one success and no
// worker left.
func completed(job *batchv1.Job, succeeded int32, active int) bool {
	if job.Spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= *job.Spec.Completions
}

func pastDeadline(job *batchv1.Job, now time.Time) bool {
	d := job.Spec.ActiveDeadlineSeconds
	return d != nil && job.Status.StartTime != nil &&
		!now.Before(job.Status.StartTime.Add(time.Duration(*d)*time.Second))
}

// pastBackoffLimitOnFailure counts container restarts of running pods
// toward the backoff limit when the kubelet, not the controller, retries
// (restartPolicy OnFailure), as upstream does.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podIndex reads the completion index from the annotation (the label is
// a copy); -1 when absent or malformed.
func podIndex(p *corev1.Pod) int {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// parseIndexes reads status.completedIndexes ("1,3-5"), dropping indexes
// out of [0, completions).
func parseIndexes(s string, completions int) sets.Set[int] {
	out := sets.New[int]()
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := max(a, 0); i <= b && i < completions; i++ {
			out.Insert(i)
		}
	}
	return out
}

// formatIndexes writes sorted indexes with runs of three or more
// compressed, as the API documents and upstream writes: "1,3-5,7,8".
func formatIndexes(set sets.Set[int]) string {
	idx := sets.List(set)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			sep := byte('-')
			if j == i+1 {
				sep = ','
			}
			b.WriteByte(sep)
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

func uncountedStatus(succeeded, failed sets.Set[types.UID]) *batchv1.UncountedTerminatedPods {
	list := func(s sets.Set[types.UID]) []types.UID {
		if s.Len() == 0 {
			return nil
		}
		out := s.UnsortedList()
		sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
		return out
	}
	return &batchv1.UncountedTerminatedPods{Succeeded: list(succeeded), Failed: list(failed)}
}

func findCondition(st *batchv1.JobStatus, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// setCondition adds or updates a condition and reports whether it changed.
func setCondition(st *batchv1.JobStatus, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, msg string, now time.Time) bool {
	ts := metav1.Time{Time: now}
	c := findCondition(st, t)
	if c == nil {
		st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason,
			Message: msg, LastProbeTime: ts, LastTransitionTime: ts})
		return true
	}
	if c.Status == status && c.Reason == reason && c.Message == msg {
		return false
	}
	if c.Status != status {
		c.LastTransitionTime = ts
	}
	c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, ts
	return true
}

func conditionTrue(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	c := findCondition(&job.Status, t)
	if c != nil && c.Status == corev1.ConditionTrue {
		return c
	}
	return nil
}

// terminalCondition returns the Complete or Failed condition, if set.
func terminalCondition(job *batchv1.Job) (*batchv1.JobCondition, bool) {
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if c := conditionTrue(job, t); c != nil {
			return c, true
		}
	}
	return nil, false
}

// interimCondition returns FailureTarget or SuccessCriteriaMet, if set:
// the Job's fate is decided and its pods are being wound down.
func interimCondition(job *batchv1.Job) *batchv1.JobCondition {
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobSuccessCriteriaMet} {
		if c := conditionTrue(job, t); c != nil {
			return c
		}
	}
	return nil
}
