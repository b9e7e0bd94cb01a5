package integration

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"corral/test/testserver"
)

// cronEnv is a server of its own whose CronJob controller runs on a fake
// clock, with two simulated nodes to run the Jobs.
type cronEnv struct {
	t     *testing.T
	clk   *clocktesting.FakeClock
	c     kubernetes.Interface
	ns    string
	cj    *batchv1.CronJob
	since int // the clock's waiters with no CronJob requeue pending
}

// newCronEnv starts the server with the clock at the real time (CronJob
// creation timestamps come from the real clock) and the nodes.
func newCronEnv(t *testing.T) *cronEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Now())
	srv, err := testserver.Start(testserver.Options{CronJobClock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Cleanup)
	c := kubernetes.NewForConfigOrDie(srv.Config)
	joinSimulated(t, srv, "cron", 2, nil)
	e := &cronEnv{t: t, clk: clk, c: c, ns: "cron"}
	if _, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The controller's queue holds tickers on the clock from its start;
	// a requeue for a schedule adds one timer on top. Wait until the
	// controller runs and the count holds still.
	last, stable := -1, 0
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		n := clk.Waiters()
		if n > 0 && n == last {
			stable++
		} else {
			stable = 0
		}
		last = n
		return stable >= 10, nil
	}); err != nil {
		t.Fatalf("CronJob controller never started on the fake clock: %v", err)
	}
	e.since = last
	t.Cleanup(e.dumpOnFailure)
	return e
}

func (e *cronEnv) dumpOnFailure() {
	if !e.t.Failed() {
		return
	}
	ctx := context.Background()
	e.t.Logf("fake clock at %s, %d waiters (%d before any CronJob)", e.clk.Now().UTC(), e.clk.Waiters(), e.since)
	if cjs, err := e.c.BatchV1().CronJobs(e.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, cj := range cjs.Items {
			e.t.Logf("cronjob %s status %+v", cj.Name, cj.Status)
		}
	}
	if jobs, err := e.c.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, j := range jobs.Items {
			e.t.Logf("job %s deleting %v status %+v", j.Name, j.DeletionTimestamp != nil, j.Status)
		}
	}
	if pods, err := e.c.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			e.t.Logf("pod %s node %q phase %s deleting %v finalizers %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.DeletionTimestamp != nil, p.Finalizers)
		}
	}
	if nodes, err := e.c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		for _, n := range nodes.Items {
			e.t.Logf("node %s ready %v taints %v", n.Name, rolloutNodeReady(&n), n.Spec.Taints)
		}
	}
}

// create makes the CronJob and waits until the controller has synced it
// and asked to be called at its next tick: stepping the clock before
// that could race the requeue and push the tick out of reach.
func (e *cronEnv) create(cj *batchv1.CronJob) {
	e.t.Helper()
	created, err := e.c.BatchV1().CronJobs(e.ns).Create(context.Background(), cj, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.cj = created
	e.wait("controller waiting for the first tick", func(context.Context) (bool, error) {
		return e.clk.Waiters() > e.since, nil
	})
}

func (e *cronEnv) wait(what string, cond func(ctx context.Context) (bool, error)) {
	e.t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 2*time.Minute, true, cond); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// jobs lists the CronJob's Jobs that are not being deleted, oldest tick first.
func (e *cronEnv) jobs() []batchv1.Job {
	e.t.Helper()
	list, err := e.c.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if ref := metav1.GetControllerOf(&j); ref != nil && ref.UID == e.cj.UID && j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func (e *cronEnv) names() []string {
	var out []string
	for _, j := range e.jobs() {
		out = append(out, j.Name)
	}
	return out
}

// tickJob is the Job name the controller gives a tick (upstream's rule).
func tickJob(cj string, tick time.Time) string { return fmt.Sprintf("%s-%d", cj, tick.Unix()/60) }

// step moves the fake clock just past tick and waits for that tick's Job.
func (e *cronEnv) step(tick time.Time) *batchv1.Job {
	e.t.Helper()
	e.clk.SetTime(tick.Add(time.Second))
	name := tickJob(e.cj.Name, tick)
	var job *batchv1.Job
	e.wait("job "+name+" created", func(ctx context.Context) (bool, error) {
		j, err := e.c.BatchV1().Jobs(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		job = j
		return true, nil
	})
	got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]
	if ts, err := time.Parse(time.RFC3339, got); err != nil || !ts.Equal(tick) {
		e.t.Errorf("job %s scheduled-timestamp %q, want %s", name, got, tick.Format(time.RFC3339))
	}
	return job
}

// settle gives the controller time to act on a clock step that should
// create nothing; the caller then checks that nothing was created.
func (e *cronEnv) settle() { time.Sleep(2 * time.Second) }

func (e *cronEnv) finished(name string) batchv1.JobConditionType {
	var cond batchv1.JobConditionType
	e.wait("job "+name+" finished", func(ctx context.Context) (bool, error) {
		j, err := e.c.BatchV1().Jobs(e.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				cond = c.Type
				return true, nil
			}
		}
		return false, nil
	})
	return cond
}

func (e *cronEnv) status() batchv1.CronJobStatus {
	e.t.Helper()
	cj, err := e.c.BatchV1().CronJobs(e.ns).Get(context.Background(), e.cj.Name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return cj.Status
}

func cronJob(name, schedule string, annotations map[string]string) *batchv1.CronJob {
	backoff := int32(0)
	return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.CronJobSpec{
		Schedule: schedule,
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{BackoffLimit: &backoff,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: annotations},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}}},
	}}
}

// nextTicks returns the next n multiples of every after t.
func nextTicks(t time.Time, every time.Duration, n int) []time.Time {
	var out []time.Time
	tick := t.Truncate(every)
	for len(out) < n {
		tick = tick.Add(every)
		out = append(out, tick)
	}
	return out
}

// TestCronJobScheduleAndHistory: stepping the clock past a tick creates
// that tick's Job, Jobs run to completion, and finished Jobs beyond the
// history limits are deleted, oldest first.
func TestCronJobScheduleAndHistory(t *testing.T) {
	e := newCronEnv(t)
	cj := cronJob("hist", "*/5 * * * *", nil)
	cj.Spec.SuccessfulJobsHistoryLimit = ptr(int32(2))
	cj.Spec.FailedJobsHistoryLimit = ptr(int32(1))
	e.create(cj)
	ticks := nextTicks(e.cj.CreationTimestamp.Time, 5*time.Minute, 6)

	// Nothing before the first tick.
	e.clk.SetTime(ticks[0].Add(-time.Second))
	e.settle()
	if got := e.names(); len(got) != 0 {
		t.Fatalf("jobs before the first tick: %v", got)
	}
	var succeeded []string
	for i := 0; i < 4; i++ {
		job := e.step(ticks[i])
		if cond := e.finished(job.Name); cond != batchv1.JobComplete {
			t.Fatalf("job %s: %s", job.Name, cond)
		}
		succeeded = append(succeeded, job.Name)
		// The tick is recorded, and the completion once the Job is done.
		e.wait("status after tick", func(context.Context) (bool, error) {
			st := e.status()
			return st.LastScheduleTime != nil && st.LastScheduleTime.Time.Equal(ticks[i]) && len(st.Active) == 0 &&
				st.LastSuccessfulTime != nil, nil
		})
	}
	e.wait("two newest successful jobs kept", func(context.Context) (bool, error) {
		got := e.names()
		return fmt.Sprint(got) == fmt.Sprint(succeeded[2:]), nil
	})

	// Now the pods fail: one failed Job is kept besides the two successes.
	if err := retryUpdateCronJob(e, func(cj *batchv1.CronJob) {
		cj.Spec.JobTemplate.Spec.Template.Annotations = map[string]string{
			"sim.corral.dev/run-for": "100ms", "sim.corral.dev/exit-code": "3"}
	}); err != nil {
		t.Fatal(err)
	}
	// The controller reads the template from its informer cache; give the
	// update time to arrive there before the tick.
	e.settle()
	var failed []string
	for i := 4; i < 6; i++ {
		job := e.step(ticks[i])
		if cond := e.finished(job.Name); cond != batchv1.JobFailed {
			t.Fatalf("job %s: %s, want Failed (template annotations %v)", job.Name, cond, job.Spec.Template.Annotations)
		}
		failed = append(failed, job.Name)
	}
	e.wait("newest failed job kept, successes untouched", func(context.Context) (bool, error) {
		got := e.names()
		return fmt.Sprint(got) == fmt.Sprint(append(append([]string(nil), succeeded[2:]...), failed[1])), nil
	})
	if st := e.status(); st.LastSuccessfulTime == nil || len(st.Active) != 0 || !st.LastScheduleTime.Time.Equal(ticks[5]) {
		t.Errorf("final status %+v", st)
	}
}

// TestCronJobForbid: while a Job runs, its CronJob's next tick creates
// nothing; when the Job ends, the skipped tick runs.
func TestCronJobForbid(t *testing.T) {
	e := newCronEnv(t)
	cj := cronJob("forbid", "*/5 * * * *", map[string]string{"sim.corral.dev/run-for": "1h"})
	cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	e.create(cj)
	ticks := nextTicks(e.cj.CreationTimestamp.Time, 5*time.Minute, 2)
	first := e.step(ticks[0])
	e.wait("first job active", func(context.Context) (bool, error) {
		st := e.status()
		return len(st.Active) == 1 && st.Active[0].UID == first.UID, nil
	})

	e.clk.SetTime(ticks[1].Add(time.Second))
	e.settle()
	if got := e.names(); len(got) != 1 {
		t.Fatalf("Forbid: jobs %v while the first still runs, want only %s", got, first.Name)
	}

	// End the first Job (its deadline passes on the real clock the Job
	// controller uses); the skipped tick then runs.
	patch := []byte(`{"spec":{"activeDeadlineSeconds":1}}`)
	if _, err := e.c.BatchV1().Jobs(e.ns).Patch(context.Background(), first.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if cond := e.finished(first.Name); cond != batchv1.JobFailed {
		t.Fatalf("first job: %s, want Failed by its deadline", cond)
	}
	second := tickJob("forbid", ticks[1])
	e.wait("skipped tick runs once the first job ended", func(ctx context.Context) (bool, error) {
		_, err := e.c.BatchV1().Jobs(e.ns).Get(ctx, second, metav1.GetOptions{})
		return err == nil, nil
	})
	e.wait("second job active", func(context.Context) (bool, error) {
		st := e.status()
		return len(st.Active) == 1 && st.Active[0].Name == second && st.LastScheduleTime.Time.Equal(ticks[1]), nil
	})
}

// TestCronJobReplace: the next tick deletes the running Job and starts
// its own.
func TestCronJobReplace(t *testing.T) {
	e := newCronEnv(t)
	cj := cronJob("replace", "*/5 * * * *", map[string]string{"sim.corral.dev/run-for": "1h"})
	cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	e.create(cj)
	ticks := nextTicks(e.cj.CreationTimestamp.Time, 5*time.Minute, 2)
	first := e.step(ticks[0])
	e.wait("first job active", func(context.Context) (bool, error) {
		return len(e.status().Active) == 1, nil
	})
	second := e.step(ticks[1])
	e.wait("first job replaced", func(ctx context.Context) (bool, error) {
		j, err := e.c.BatchV1().Jobs(e.ns).Get(ctx, first.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && j.UID != first.UID), nil
	})
	e.wait("only the second job active", func(context.Context) (bool, error) {
		st := e.status()
		return len(st.Active) == 1 && st.Active[0].UID == second.UID, nil
	})
	if got := e.names(); len(got) != 1 || got[0] != second.Name {
		t.Errorf("jobs after Replace: %v, want [%s]", got, second.Name)
	}
}

// TestCronJobTimeZone: "0 9 * * *" in Asia/Kathmandu (UTC+05:45, no
// daylight saving) fires at 03:15 UTC, not at 09:00 UTC.
func TestCronJobTimeZone(t *testing.T) {
	const zone = "Asia/Kathmandu"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatalf("Go's time zone database: %v", err)
	}
	e := newCronEnv(t)
	cj := cronJob("tz", "0 9 * * *", nil)
	cj.Spec.TimeZone = ptr(zone)
	e.create(cj)
	created := e.cj.CreationTimestamp.Time.In(loc)
	tick := time.Date(created.Year(), created.Month(), created.Day(), 9, 0, 0, 0, loc)
	if !tick.After(created) {
		tick = tick.AddDate(0, 0, 1)
	}
	if u := tick.UTC(); u.Hour() != 3 || u.Minute() != 15 {
		t.Fatalf("test arithmetic: tick %s is not 03:15 UTC", u)
	}
	// 09:00 UTC would come first on some days, and must create nothing;
	// so must 08:59 Kathmandu.
	utcNine := time.Date(created.Year(), created.Month(), created.Day(), 9, 0, 0, 0, time.UTC)
	for utcNine.Before(created) {
		utcNine = utcNine.AddDate(0, 0, 1)
	}
	if utcNine.Before(tick) {
		e.clk.SetTime(utcNine.Add(time.Second))
		e.settle()
	}
	e.clk.SetTime(tick.Add(-time.Minute))
	e.settle()
	if got := e.names(); len(got) != 0 {
		t.Fatalf("jobs before 09:00 %s: %v", zone, got)
	}
	job := e.step(tick)
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != tick.Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp %q, want %q (the zone's offset)", got, tick.Format(time.RFC3339))
	}
}

func retryUpdateCronJob(e *cronEnv, mutate func(*batchv1.CronJob)) error {
	return wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		cj, err := e.c.BatchV1().CronJobs(e.ns).Get(ctx, e.cj.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		mutate(cj)
		_, err = e.c.BatchV1().CronJobs(e.ns).Update(ctx, cj, metav1.UpdateOptions{})
		return err == nil, nil
	})
}

func ptr[T any](v T) *T { return &v }
