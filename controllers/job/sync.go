package job

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
)

// syncJob brings one Job up to date and returns when to look again
// without an event (backoff, deadline, TTL), or zero.
func (c *Controller) syncJob(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, err
	}
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		c.backoff.delete(key)
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if m := shared.Spec.ManagedBy; m != nil && *m != managedByBuiltin {
		return 0, nil
	}
	if rv, ok := c.replaced.Load(key); ok && rv == shared.ResourceVersion {
		return 0, nil // the update event of our write will bring us back
	}
	pods, err := c.podsFor(shared)
	if err != nil {
		return 0, err
	}
	now := c.clock.Now()
	if _, done := terminalCondition(shared); done || shared.DeletionTimestamp != nil {
		// Everything was counted before the terminal condition; pods left
		// (or a Job being deleted) only need to let go.
		var tracked []*corev1.Pod
		for _, p := range pods {
			if hasTrackingFinalizer(p) && !c.expectations.RemovalPending(key, string(p.UID)) {
				tracked = append(tracked, p)
			}
		}
		if _, err := c.removeFinalizers(ctx, key, tracked); err != nil {
			return 0, err
		}
		if done {
			return c.expireTTL(ctx, shared, now)
		}
		return 0, nil
	}
	return c.syncActive(ctx, key, shared, pods, now)
}

// jobState is what one sync learns from the pods.
type jobState struct {
	active, terminating []*corev1.Pod
	// uncounted is status.uncountedTerminatedPods plus the pods that
	// finished since; tracked holds the UIDs whose finalizer is still on.
	uncountedSucceeded, uncountedFailed sets.Set[types.UID]
	tracked                             sets.Set[types.UID]
	release                             []*corev1.Pod
	newSucceeded, newFailed             int
	// succeededIndexes is for Indexed Jobs only.
	succeededIndexes sets.Set[int]
	// failedIndexes and held are for backoffLimitPerIndex only: the
	// indexes given up on, and per index the failed pod whose finalizer
	// stays until its replacement exists (perindex.go).
	failedIndexes sets.Set[int]
	held          map[int]failure
	// failJob: a newly failed pod matched a FailJob rule of the
	// podFailurePolicy; the message of the Job's failure condition.
	failJob string
}

// failure is a newly failed pod and what the podFailurePolicy says of it.
type failure struct {
	pod     *corev1.Pod
	verdict failurePolicyVerdict
}

// count lets a newly failed pod go and counts it, unless the
// podFailurePolicy ignores it (then it is replaced, not counted, and does
// not back the Job off).
func (s *jobState) count(f failure) {
	s.release = append(s.release, f.pod)
	switch f.verdict.action {
	case batchv1.PodFailurePolicyActionIgnore:
		return
	case batchv1.PodFailurePolicyActionFailJob:
		if s.failJob == "" {
			s.failJob = f.verdict.message
		}
	}
	s.uncountedFailed.Insert(f.pod.UID)
	s.newFailed++
}

func (c *Controller) syncActive(ctx context.Context, key string, shared *batchv1.Job, pods []*corev1.Pod, now time.Time) (time.Duration, error) {
	job := shared.DeepCopy()
	st := &job.Status
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	interim := interimCondition(job)

	if suspended {
		if setCondition(st, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
			c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
	} else {
		if cond := findCondition(st, batchv1.JobSuspended); cond != nil && cond.Status == corev1.ConditionTrue {
			setCondition(st, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
			c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
			// As upstream: the deadline counts from the resumption.
			st.StartTime = nil
		}
		if st.StartTime == nil {
			st.StartTime = &metav1.Time{Time: now}
		}
	}

	s := c.classify(key, job, pods, suspended, interim)
	var succeeded int32
	if isIndexed(job) {
		succeeded = int32(s.succeededIndexes.Len())
	} else {
		succeeded = st.Succeeded + int32(s.uncountedSucceeded.Len())
	}

	// Decide whether the Job is done; the terminal condition waits for
	// the pods to be gone, as upstream 1.31+ does.
	if interim == nil {
		if t, reason, msg := decide(job, s, succeeded, suspended, now); t != "" {
			interim = c.setInterim(job, t, reason, msg, now)
			// A decided Job waits for no replacement: count and let go.
			s.releaseHeld()
		}
	}

	var requeue time.Duration
	var manageErr error
	created, deleted := 0, 0
	// The failures counted now already delay the next pod.
	backoff := c.backoff.peek(key, s.newSucceeded, s.newFailed, now)
	// Until the informer shows our last creates, deletes and finalizer
	// removals, the pod cache cannot be trusted for resizing.
	satisfied := c.expectations.Satisfied(key)
	if satisfied {
		if interim != nil || suspended {
			deleted, manageErr = c.deletePods(ctx, key, job, s.active)
		} else {
			created, deleted, requeue, manageErr = c.manage(ctx, key, job, s, succeeded, backoff.remaining(now))
		}
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil && interim == nil && !suspended {
		if left := st.StartTime.Add(time.Duration(*d) * time.Second).Sub(now); requeue == 0 || left < requeue {
			requeue = left
		}
	}

	ready := int32(0)
	for _, p := range s.active {
		if podReady(p) {
			ready++
		}
	}
	// A lagging cache would make the counts flap (the pods just created
	// missing from it): they wait for the informer to catch up.
	if satisfied || st.Ready == nil {
		st.Active = int32(len(s.active) - deleted + created)
		st.Ready = &ready
		st.Terminating = ptrTo(int32(len(s.terminating) + deleted))
	}
	if isIndexed(job) {
		st.CompletedIndexes = formatIndexes(s.succeededIndexes)
		st.Succeeded = succeeded
		if hasBackoffLimitPerIndex(job) {
			// Written with the uncounted pods, before their finalizers go.
			st.FailedIndexes = ptrTo(formatIndexes(s.failedIndexes))
		}
	}

	// Step 1: record newly finished pods before their finalizers go, so
	// that a crash in between cannot lose them.
	if s.newSucceeded+s.newFailed > 0 {
		st.UncountedTerminatedPods = uncountedStatus(s.uncountedSucceeded, s.uncountedFailed)
		updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
		if err != nil {
			return 0, errors.Join(manageErr, err)
		}
		c.markReplaced(key, shared, updated)
		c.backoff.set(key, backoff)
		shared = updated
		job = updated.DeepCopy()
		st = &job.Status
	}
	// Step 2: let the pods go.
	released, relErr := c.removeFinalizers(ctx, key, s.release)
	// Step 3: move what was let go (or is gone) into the counters.
	for uid := range s.uncountedSucceeded {
		if released.Has(uid) || !s.tracked.Has(uid) {
			s.uncountedSucceeded.Delete(uid)
			if !isIndexed(job) {
				st.Succeeded++
			}
		}
	}
	for uid := range s.uncountedFailed {
		if released.Has(uid) || !s.tracked.Has(uid) {
			s.uncountedFailed.Delete(uid)
			st.Failed++
		}
	}
	st.UncountedTerminatedPods = uncountedStatus(s.uncountedSucceeded, s.uncountedFailed)
	if interim != nil && s.uncountedSucceeded.Len()+s.uncountedFailed.Len() == 0 &&
		len(s.active) == 0 && len(s.terminating) == 0 && deleted == 0 {
		c.finish(job, interim, now)
		st.Active, st.Ready, st.Terminating = 0, ptrTo(int32(0)), ptrTo(int32(0))
		requeue = 0
		if ttl := job.Spec.TTLSecondsAfterFinished; ttl != nil {
			requeue = time.Duration(*ttl) * time.Second
		}
	}
	if !equality.Semantic.DeepEqual(shared.Status, job.Status) {
		updated, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
		if err != nil {
			return 0, errors.Join(manageErr, relErr, err)
		}
		c.markReplaced(key, shared, updated)
	}
	return requeue, errors.Join(manageErr, relErr)
}

// decide returns the interim condition the Job has earned, if any, in
// upstream's order: failures first, then success.
func decide(job *batchv1.Job, s *jobState, succeeded int32, suspended bool, now time.Time) (t batchv1.JobConditionType, reason, msg string) {
	// The API defaults backoffLimit to MaxInt32 when backoffLimitPerIndex
	// is set; one set explicitly still applies, as upstream.
	backoffLimit := int32(6)
	if hasBackoffLimitPerIndex(job) {
		backoffLimit = math.MaxInt32
	}
	if job.Spec.BackoffLimit != nil {
		backoffLimit = *job.Spec.BackoffLimit
	}
	failed := job.Status.Failed + int32(s.uncountedFailed.Len()) + s.heldCounted()
	if s.failJob != "" {
		return batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, s.failJob
	}
	if failed > backoffLimit || pastBackoffLimitOnFailure(job, s.active, backoffLimit) {
		return batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	if !suspended && pastDeadline(job, now) {
		return batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
	}
	if reason, msg := failedIndexesVerdict(job, s); reason != "" {
		return batchv1.JobFailureTarget, reason, msg
	}
	if msg, ok := matchSuccessPolicy(job, s.succeededIndexes); ok {
		return batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, msg
	}
	if completed(job, succeeded, len(s.active)) {
		return batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods"
	}
	return "", "", ""
}

// classify sorts the pods and picks the newly finished ones to count.
// interim is the Job's FailureTarget or SuccessCriteriaMet, if any.
func (c *Controller) classify(key string, job *batchv1.Job, pods []*corev1.Pod, suspended bool, interim *batchv1.JobCondition) *jobState {
	s := &jobState{
		uncountedSucceeded: sets.New[types.UID](),
		uncountedFailed:    sets.New[types.UID](),
		tracked:            sets.New[types.UID](),
		succeededIndexes:   sets.New[int](),
	}
	if u := job.Status.UncountedTerminatedPods; u != nil {
		s.uncountedSucceeded.Insert(u.Succeeded...)
		s.uncountedFailed.Insert(u.Failed...)
	}
	indexed := isIndexed(job)
	completions := 0
	if job.Spec.Completions != nil {
		completions = int(*job.Spec.Completions)
	}
	if indexed {
		s.succeededIndexes = parseIndexes(job.Status.CompletedIndexes, completions)
	}
	// With podReplacementPolicy Failed a terminating pod is not failed
	// until its phase says so; by default it is failed (and replaced) as
	// soon as it starts terminating. A failing Job counts the pods it
	// stops as failed; a succeeding one does not, as upstream.
	replaceTerminating := !replaceOnlyFailed(job)
	failing := interim != nil && interim.Type == batchv1.JobFailureTarget
	var failures []failure
	for _, p := range pods {
		terminal := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		switch {
		case !terminal && p.DeletionTimestamp == nil:
			s.active = append(s.active, p)
		case !terminal:
			s.terminating = append(s.terminating, p)
		}
		if indexed && p.Status.Phase == corev1.PodSucceeded {
			if i := podIndex(p); i >= 0 && i < completions {
				s.succeededIndexes.Insert(i)
			}
		}
		if !hasTrackingFinalizer(p) || c.expectations.RemovalPending(key, string(p.UID)) {
			continue // counted already
		}
		s.tracked.Insert(p.UID)
		if s.uncountedSucceeded.Has(p.UID) || s.uncountedFailed.Has(p.UID) {
			s.release = append(s.release, p)
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			s.uncountedSucceeded.Insert(p.UID)
			s.newSucceeded++
			s.release = append(s.release, p)
		case p.Status.Phase == corev1.PodFailed:
			failures = append(failures, failure{p, judgeFailure(job, p)})
		case p.DeletionTimestamp != nil && !suspended && (replaceTerminating || failing):
			failures = append(failures, failure{p, failurePolicyVerdict{action: batchv1.PodFailurePolicyActionCount}})
		case p.DeletionTimestamp != nil && suspended:
			// Stopped by suspension: not a failure, not counted.
			s.release = append(s.release, p)
		}
	}
	if hasBackoffLimitPerIndex(job) {
		s.failedIndexes = failedIndexes(job, failures)
		if interim == nil {
			s.held = holdLastFailures(job, s, failures)
		}
	}
	for _, f := range failures {
		if h, ok := s.held[podIndex(f.pod)]; !ok || h.pod != f.pod {
			s.count(f)
		}
	}
	return s
}

// replaceOnlyFailed: podReplacementPolicy Failed, the default when a
// podFailurePolicy (which judges the pod's end, so waits for it) is set,
// as upstream.
func replaceOnlyFailed(job *batchv1.Job) bool {
	if rp := job.Spec.PodReplacementPolicy; rp != nil {
		return *rp == batchv1.Failed
	}
	return job.Spec.PodFailurePolicy != nil
}

func (c *Controller) setInterim(job *batchv1.Job, t batchv1.JobConditionType, reason, msg string, now time.Time) *batchv1.JobCondition {
	setCondition(&job.Status, t, corev1.ConditionTrue, reason, msg, now)
	if t == batchv1.JobFailureTarget {
		c.recorder.Event(job, corev1.EventTypeWarning, reason, msg)
	}
	return findCondition(&job.Status, t)
}

// finish adds the terminal condition matching the interim one.
func (c *Controller) finish(job *batchv1.Job, interim *batchv1.JobCondition, now time.Time) {
	st := &job.Status
	if interim.Type == batchv1.JobSuccessCriteriaMet {
		setCondition(st, batchv1.JobComplete, corev1.ConditionTrue, interim.Reason, interim.Message, now)
		st.CompletionTime = &metav1.Time{Time: now}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		return
	}
	setCondition(st, batchv1.JobFailed, corev1.ConditionTrue, interim.Reason, interim.Message, now)
}

// expireTTL deletes a finished Job once its TTL has elapsed.
func (c *Controller) expireTTL(ctx context.Context, job *batchv1.Job, now time.Time) (time.Duration, error) {
	ttl := job.Spec.TTLSecondsAfterFinished
	if ttl == nil || job.DeletionTimestamp != nil {
		return 0, nil
	}
	cond, _ := terminalCondition(job)
	finishedAt := cond.LastTransitionTime.Time
	if job.Status.CompletionTime != nil {
		finishedAt = job.Status.CompletionTime.Time
	}
	if left := finishedAt.Add(time.Duration(*ttl) * time.Second).Sub(now); left > 0 {
		return left, nil
	}
	// The preconditions make sure a TTL just changed by the user (our
	// cache may lag) is not ignored.
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &bg,
		Preconditions:     &metav1.Preconditions{UID: &job.UID, ResourceVersion: &job.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	return 0, err
}

// podsFor returns the pods the Job controls. Orphans matching the
// selector are not adopted: the selector carries the Job's UID, so only
// hand-made pods could match.
func (c *Controller) podsFor(job *batchv1.Job) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("invalid selector of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	list, err := c.podLister.Pods(job.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	out := list[:0:0]
	for _, p := range list {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID {
			out = append(out, p)
		}
	}
	return out, nil
}

// syncOrphan removes the tracking finalizer from a pod whose controlling
// Job is gone or is another incarnation: nothing else would, and the pod
// could never be deleted.
func (c *Controller) syncOrphan(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasTrackingFinalizer(pod) || c.ownerExists(pod) {
		return nil
	}
	jobKey, _ := jobKeyOf(pod)
	_, err = c.removeFinalizers(ctx, jobKey, []*corev1.Pod{pod})
	return err
}

// ownerExists reports whether the pod's controlling Job is in the cache.
func (c *Controller) ownerExists(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return false
	}
	job, err := c.jobLister.Jobs(pod.Namespace).Get(ref.Name)
	return err == nil && job.UID == ref.UID
}

func ptrTo[T any](v T) *T { return &v }

// markReplaced remembers that our write replaced old, so that a cache
// still showing old is not acted on. A write the server found to change
// nothing keeps old's resourceVersion and sends no event: remembering it
// would make every later sync wait for an event that never comes.
func (c *Controller) markReplaced(key string, old, updated *batchv1.Job) {
	if updated != nil && updated.ResourceVersion != old.ResourceVersion {
		c.replaced.Store(key, old.ResourceVersion)
	}
}
