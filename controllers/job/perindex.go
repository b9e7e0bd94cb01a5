package job

import (
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// spec.backoffLimitPerIndex, as upstream: each index of an Indexed Job
// has its own failure budget. A pod carries the failures of its index
// before it in the batch.kubernetes.io/job-index-failure-count annotation
// (and those the podFailurePolicy ignored in
// batch.kubernetes.io/job-index-ignored-failure-count); its replacement
// gets them plus one. The counts live only in pods, so the last failed
// pod of an index keeps its finalizer (is "held") until the replacement
// exists. An index whose pod fails with backoffLimitPerIndex failures
// behind it, or matches a FailIndex rule, is failed for good: listed in
// status.failedIndexes and not run again.

func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// indexFailureCounts reads a pod's annotations: the counted and the
// ignored failures of its index before it. Absent or malformed values
// (a user may edit them) read as zero, as upstream.
func indexFailureCounts(p *corev1.Pod) (counted, ignored int32) {
	read := func(key string) int32 {
		v, err := strconv.Atoi(p.Annotations[key])
		if err != nil || v < 0 || v > math.MaxInt32 {
			return 0
		}
		return int32(v)
	}
	return read(batchv1.JobIndexFailureCountAnnotation), read(batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// indexFailed reports whether a newly failed pod ends its index.
func indexFailed(job *batchv1.Job, f failure) bool {
	switch f.verdict.action {
	case batchv1.PodFailurePolicyActionFailIndex:
		return true
	case batchv1.PodFailurePolicyActionIgnore:
		return false
	}
	counted, _ := indexFailureCounts(f.pod)
	return counted >= *job.Spec.BackoffLimitPerIndex
}

// failedIndexes is status.failedIndexes plus the indexes the new
// failures end.
func failedIndexes(job *batchv1.Job, failures []failure) sets.Set[int] {
	completions := int(*job.Spec.Completions)
	out := sets.New[int]()
	if job.Status.FailedIndexes != nil {
		out = parseIndexes(*job.Status.FailedIndexes, completions)
	}
	for _, f := range failures {
		if i := podIndex(f.pod); i >= 0 && i < completions && indexFailed(job, f) {
			out.Insert(i)
		}
	}
	return out
}

// holdLastFailures picks, for each index still to run and with no pod
// running, its latest failed pod: the one the replacement takes its
// counts from. Pods of a failing (FailJob) Job are never held.
func holdLastFailures(job *batchv1.Job, s *jobState, failures []failure) map[int]failure {
	completions := int(*job.Spec.Completions)
	running := sets.New[int]()
	for _, p := range s.active {
		running.Insert(podIndex(p))
	}
	held := map[int]failure{}
	for _, f := range failures {
		i := podIndex(f.pod)
		if i < 0 || i >= completions || f.verdict.action == batchv1.PodFailurePolicyActionFailJob ||
			s.succeededIndexes.Has(i) || s.failedIndexes.Has(i) || running.Has(i) {
			continue
		}
		if prev, ok := held[i]; !ok || laterFailure(f.pod, prev.pod) {
			held[i] = f
		}
	}
	return held
}

// laterFailure reports whether a failed after b in the same index: more
// failures behind it, or as many and finished no earlier.
func laterFailure(a, b *corev1.Pod) bool {
	if na, nb := absoluteFailures(a), absoluteFailures(b); na != nb {
		return na > nb
	}
	return !finishedAt(a).Before(finishedAt(b))
}

// absoluteFailures counts the failures of a pod's index before it,
// ignored ones included: they back the index off too, as upstream.
func absoluteFailures(p *corev1.Pod) int32 {
	counted, ignored := indexFailureCounts(p)
	return counted + ignored
}

// heldCounted is how many held pods will count as failures once let go;
// the global backoffLimit sees them now, as upstream.
func (s *jobState) heldCounted() int32 {
	n := int32(0)
	for _, f := range s.held {
		if f.verdict.action != batchv1.PodFailurePolicyActionIgnore {
			n++
		}
	}
	return n
}

// releaseHeld counts and lets go the held pods, in index order.
func (s *jobState) releaseHeld() {
	for _, i := range sets.List(sets.KeySet(s.held)) {
		s.count(s.held[i])
	}
	s.held = nil
}

// failedIndexesVerdict returns the reason and message of the Job's
// failure for its failed indexes, or "".
func failedIndexesVerdict(job *batchv1.Job, s *jobState) (reason, msg string) {
	if !hasBackoffLimitPerIndex(job) {
		return "", ""
	}
	n := s.failedIndexes.Len()
	if m := job.Spec.MaxFailedIndexes; m != nil && n > int(*m) {
		return batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes"
	}
	if n > 0 && n+s.succeededIndexes.Len() >= int(*job.Spec.Completions) {
		return batchv1.JobReasonFailedIndexes, "Job has failed indexes"
	}
	return "", ""
}

// readyIndexes keeps the indexes whose own backoff has elapsed (the
// Job-wide one is not used) and returns how long the others must wait.
func readyIndexes(indexes []int, held map[int]failure, now time.Time) (ready []int, wait time.Duration) {
	for _, i := range indexes {
		var left time.Duration
		if h, ok := held[i]; ok {
			r := backoffRecord{failures: int(absoluteFailures(h.pod)) + 1, lastFailure: finishedAt(h.pod)}
			left = r.remaining(now)
		}
		switch {
		case left == 0:
			ready = append(ready, i)
		case wait == 0 || left < wait:
			wait = left
		}
	}
	return ready, wait
}

// setIndexFailureCounts annotates a new pod with its index's failures:
// those of the pod it replaces (if any is held) plus that pod's own.
func setIndexFailureCounts(pod *corev1.Pod, replaced failure) {
	var counted, ignored int32
	if replaced.pod != nil {
		counted, ignored = indexFailureCounts(replaced.pod)
		if replaced.verdict.action == batchv1.PodFailurePolicyActionIgnore {
			ignored++
		} else {
			counted++
		}
	}
	pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(counted))
	if ignored > 0 {
		pod.Annotations[batchv1.JobIndexIgnoredFailureCountAnnotation] = strconv.Itoa(int(ignored))
	}
}

// finishedAt estimates when a pod ended, as upstream: the end of its last
// container if all ended, else when it stopped being ready, else when
// its deletion took effect, else its creation.
func finishedAt(p *corev1.Pod) time.Time {
	var last time.Time
	for i, cs := range p.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil || t.FinishedAt.IsZero() {
			break
		}
		if t.FinishedAt.After(last) {
			last = t.FinishedAt.Time
		}
		if i == len(p.Status.ContainerStatuses)-1 {
			return last
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if d := p.DeletionTimestamp; d != nil {
		grace := time.Duration(0)
		if g := p.DeletionGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		return d.Add(-grace)
	}
	return p.CreationTimestamp.Time
}
