package cronjob

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

const (
	// ScheduledTimestampAnnotation records on each Job the tick it was made for.
	ScheduledTimestampAnnotation = batchv1.CronJobScheduledTimestampAnnotation
	// tooManyMissed is upstream's threshold for the TooManyMissedTimes event.
	tooManyMissed = 100
	// nextScheduleDelta wakes the controller just after a tick, so that the
	// tick is in the past when the sync computes it.
	nextScheduleDelta = 100 * time.Millisecond
)

// sync brings one CronJob up to date and returns when to look again
// (zero: only on events).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	logger := klog.FromContext(ctx)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, err
	}
	shared, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil // its Jobs go with it through the garbage collector
	}
	if err != nil {
		return 0, err
	}
	cj := shared.DeepCopy()
	jobs, err := c.jobsFor(cj)
	if err != nil {
		return 0, err
	}
	if err := c.reconcileActive(ctx, cj, jobs); err != nil {
		return 0, err
	}
	c.cleanupHistory(ctx, cj, jobs)

	after, err := c.schedule(ctx, cj, jobs)
	if !equality.Semantic.DeepEqual(cj.Status, shared.Status) {
		if _, uerr := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); uerr != nil {
			if err == nil {
				err = uerr
			}
			logger.V(2).Info("CronJob status update failed", "cronjob", key, "err", uerr)
		}
	}
	return after, err
}

// jobsFor returns the Jobs the CronJob controls.
func (c *Controller) jobsFor(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	return out, nil
}

// reconcileActive makes status.active the unfinished Jobs, and moves
// lastSuccessfulTime forward as Jobs complete.
func (c *Controller) reconcileActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
		done, cond := finished(j)
		if !done {
			// A Job being deleted (by Replace, say) is not brought back.
			if !inActive(cj, j.UID) && j.DeletionTimestamp == nil {
				cj.Status.Active = append(cj.Status.Active, jobRef(j))
			}
			continue
		}
		if inActive(cj, j.UID) {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || cj.Status.LastSuccessfulTime.Before(j.Status.CompletionTime)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
	}
	kept := cj.Status.Active[:0]
	for _, ref := range cj.Status.Active {
		j, ok := byUID[ref.UID]
		if ok {
			if done, _ := finished(j); !done {
				kept = append(kept, ref)
			}
			continue
		}
		// Not in the cache: either gone, or created so recently that the
		// informer has not seen it. Only the API can tell.
		got, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
		case err != nil:
			return err
		case got.UID == ref.UID:
			if done, _ := finished(got); !done {
				kept = append(kept, ref)
			}
		}
	}
	cj.Status.Active = kept
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
	return nil
}

// cleanupHistory deletes the oldest finished Jobs beyond the limits.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch _, cond := finished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	if lim := cj.Spec.SuccessfulJobsHistoryLimit; lim != nil {
		c.deleteOldest(ctx, cj, succeeded, int(*lim))
	}
	if lim := cj.Spec.FailedJobsHistoryLimit; lim != nil {
		c.deleteOldest(ctx, cj, failed, int(*lim))
	}
}

func (c *Controller) deleteOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) {
	if len(jobs) <= keep {
		return
	}
	sort.Slice(jobs, func(a, b int) bool { return olderJob(jobs[a], jobs[b]) })
	for _, j := range jobs[:len(jobs)-keep] {
		c.deleteJob(ctx, cj, j.Name, j.UID)
	}
}

// olderJob orders history as upstream does: by start time, Jobs that never
// started first. Start times have whole seconds, so Jobs of close ticks
// (or a backlog started at once) tie; the tick each was made for breaks
// the tie, then the name.
func olderJob(a, b *batchv1.Job) bool {
	if sa, sb := startOf(a), startOf(b); !sa.Equal(sb) {
		return sa.Before(sb)
	}
	if ta, tb := scheduledOf(a), scheduledOf(b); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}

func startOf(j *batchv1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return time.Time{}
}

// scheduledOf is the tick recorded on a Job, or the zero time.
func scheduledOf(j *batchv1.Job) time.Time {
	t, err := time.Parse(time.RFC3339, j.Annotations[ScheduledTimestampAnnotation])
	if err != nil {
		return time.Time{}
	}
	return t
}

func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) bool {
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name,
		metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return false
	}
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	return true
}

// location is the zone the CronJob's schedule is read in.
func (c *Controller) locationOf(cj *batchv1.CronJob) (*time.Location, error) {
	if tz := cj.Spec.TimeZone; tz != nil {
		return time.LoadLocation(*tz)
	}
	return c.location, nil
}

// schedule creates the Job of the most recent unserved tick, if any, and
// returns the delay until the next tick.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (time.Duration, error) {
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return 0, nil
	}
	loc, err := c.locationOf(cj)
	if err != nil {
		// Not retried: only an edit of the CronJob can fix it.
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %v", *cj.Spec.TimeZone, err)
		return 0, nil
	}
	sched, err := ParseSchedule(cj.Spec.Schedule, loc)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %v", cj.Spec.Schedule, err)
		return 0, nil
	}
	now := c.clock.Now()
	next := func() time.Duration {
		n := sched.Next(now)
		if n.IsZero() {
			return 0
		}
		return n.Sub(now) + nextScheduleDelta
	}

	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		// Ticks older than the deadline are skipped, never counted.
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	scheduled, missed := mostRecent(sched, earliest, now, tooManyMissed)
	if scheduled.IsZero() {
		return next(), nil
	}
	if missed > tooManyMissed {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	scheduled = scheduled.In(loc)
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.Format(time.RFC1123Z))
		return next(), nil
	}
	name := jobName(cj, scheduled)
	for _, j := range jobs {
		if j.Name == name {
			// This tick is served. A sync that created the Job may have
			// failed to record it (a conflict on the status write), so
			// record it now: otherwise lastScheduleTime lags behind.
			if cj.Status.LastScheduleTime == nil || cj.Status.LastScheduleTime.Time.Before(scheduled) {
				cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
			}
			return next(), nil
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			// Not recorded as served: when the running Job ends, its event
			// brings us back and the tick runs if still within the deadline.
			klog.FromContext(ctx).V(4).Info("Not starting job: prior execution still running and concurrency policy is Forbid", "cronjob", klog.KObj(cj))
			return next(), nil
		}
	case batchv1.ReplaceConcurrent:
		kept := cj.Status.Active[:0]
		for _, ref := range cj.Status.Active {
			if !c.deleteJob(ctx, cj, ref.Name, ref.UID) {
				kept = append(kept, ref)
			}
		}
		cj.Status.Active = kept
		if len(kept) > 0 {
			return 0, fmt.Errorf("replacing active jobs of %s/%s failed", cj.Namespace, cj.Name)
		}
		cj.Status.Active = nil
	}

	job := newJob(cj, name, scheduled)
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Our cache lagged behind a Job we made before; adopt the record.
		existing, gerr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return 0, gerr
		}
		if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != cj.UID {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Job %s exists and is not owned by this CronJob", name)
			return next(), nil
		}
		created = existing
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return 0, err
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", name)
	}
	if done, _ := finished(created); !done && !inActive(cj, created.UID) {
		cj.Status.Active = append(cj.Status.Active, jobRef(created))
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return next(), nil
}

// jobName is upstream's deterministic name: one tick, one Job.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

func newJob(cj *batchv1.CronJob, name string, scheduled time.Time) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       cj.Namespace,
			Labels:          tmpl.Labels,
			Annotations:     tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Spec: tmpl.Spec,
	}
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[ScheduledTimestampAnnotation] = scheduled.Format(time.RFC3339)
	return job
}

func jobRef(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(),
		Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

func inActive(cj *batchv1.CronJob, uid types.UID) bool {
	for _, r := range cj.Status.Active {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// finished reports whether a Job has its terminal condition, and which.
func finished(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}
