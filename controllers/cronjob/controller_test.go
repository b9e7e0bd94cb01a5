package cronjob

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	cjs    []*batchv1.CronJob
	jobs   []*batchv1.Job
	ctrl   *Controller
	events *record.FakeRecorder
}

func newFixture(t *testing.T, now time.Time) *fixture {
	return &fixture{t: t, clock: clocktesting.NewFakeClock(now)}
}

func (f *fixture) start() {
	var objs []runtime.Object
	for _, cj := range f.cjs {
		objs = append(objs, cj)
	}
	for _, j := range f.jobs {
		objs = append(objs, j)
	}
	f.client = fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(f.client, 0)
	f.ctrl = NewController(f.client, inf.Batch().V1().CronJobs(), inf.Batch().V1().Jobs(), f.clock)
	f.ctrl.synced = func() bool { return true }
	f.ctrl.location = time.UTC
	f.events = record.NewFakeRecorder(100)
	f.ctrl.recorder = f.events
	for _, cj := range f.cjs {
		_ = inf.Batch().V1().CronJobs().Informer().GetIndexer().Add(cj)
	}
	for _, j := range f.jobs {
		_ = inf.Batch().V1().Jobs().Informer().GetIndexer().Add(j)
	}
}

func (f *fixture) sync(name string) time.Duration {
	f.t.Helper()
	f.client.ClearActions()
	d, err := f.ctrl.sync(context.Background(), "default/"+name)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return d
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	var got []string
	for _, a := range f.client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		if n, ok := a.(core.DeleteAction); ok {
			s += " " + n.GetName()
		}
		got = append(got, s)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		f.t.Fatalf("actions:\n got  %v\n want %v", got, want)
	}
}

func (f *fixture) cronJob(name string) *batchv1.CronJob {
	f.t.Helper()
	cj, err := f.client.BatchV1().CronJobs("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cj
}

func (f *fixture) createdJob() *batchv1.Job {
	f.t.Helper()
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "jobs" {
			return c.GetObject().(*batchv1.Job)
		}
	}
	f.t.Fatal("no job created")
	return nil
}

func (f *fixture) expectEvent(reason string) {
	f.t.Helper()
	for {
		select {
		case e := <-f.events.Events:
			if strings.Contains(e, reason) {
				return
			}
		default:
			f.t.Fatalf("no %s event", reason)
		}
	}
}

func newCronJob(name, schedule string) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedule,
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptrTo(false),
			SuccessfulJobsHistoryLimit: ptrTo(int32(3)),
			FailedJobsHistoryLimit:     ptrTo(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}},
			},
		},
	}
}

// ownedJob is a Job the CronJob made for the tick at scheduled.
func ownedJob(cj *batchv1.CronJob, scheduled time.Time, finished batchv1.JobConditionType) *batchv1.Job {
	j := newJob(cj, jobName(cj, scheduled), scheduled)
	j.UID = types.UID("uid-" + j.Name)
	j.Status.StartTime = &metav1.Time{Time: scheduled}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		if finished == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: scheduled.Add(time.Minute)}
		}
	}
	return j
}

func ptrTo[T any](v T) *T { return &v }

func TestCreatesJobAtScheduledTime(t *testing.T) {
	f := newFixture(t, t0.Add(5*time.Minute+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	f.cjs = append(f.cjs, cj)
	f.start()
	d := f.sync("hello")
	f.expectActions("create jobs", "update cronjobs/status")
	tick := t0.Add(5 * time.Minute)
	job := f.createdJob()
	if want := fmt.Sprintf("hello-%d", tick.Unix()/60); job.Name != want {
		t.Errorf("name %s, want %s", job.Name, want)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-01T12:05:00Z" {
		t.Errorf("annotation %q", got)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("owner %+v", ref)
	}
	if job.Labels["app"] != "hello" {
		t.Errorf("labels %v", job.Labels)
	}
	st := f.cronJob("hello").Status
	if st.LastScheduleTime == nil || !st.LastScheduleTime.Time.Equal(tick) || len(st.Active) != 1 || st.Active[0].Name != job.Name {
		t.Errorf("status %+v", st)
	}
	if want := 4*time.Minute + 50*time.Second + nextScheduleDelta; d != want {
		t.Errorf("requeue after %v, want %v", d, want)
	}
}

func TestNothingBeforeFirstTick(t *testing.T) {
	f := newFixture(t, t0.Add(3*time.Minute))
	f.cjs = append(f.cjs, newCronJob("hello", "*/5 * * * *"))
	f.start()
	if d := f.sync("hello"); d != 2*time.Minute+nextScheduleDelta {
		t.Errorf("requeue after %v", d)
	}
	f.expectActions()
}

func TestTickAlreadyServed(t *testing.T) {
	f := newFixture(t, t0.Add(5*time.Minute+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	f.cjs = append(f.cjs, cj)
	f.jobs = append(f.jobs, ownedJob(cj, t0.Add(5*time.Minute), ""))
	f.start()
	f.sync("hello")
	// Only the status learns about the active Job; nothing is created.
	f.expectActions("update cronjobs/status")
}

func TestForbidSkipsWhileActive(t *testing.T) {
	f := newFixture(t, t0.Add(10*time.Minute+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
	running := ownedJob(cj, t0.Add(5*time.Minute), "")
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0.Add(5 * time.Minute)}
	cj.Status.Active = []corev1.ObjectReference{jobRef(running)}
	f.cjs = append(f.cjs, cj)
	f.jobs = append(f.jobs, running)
	f.start()
	f.sync("hello")
	f.expectActions()
}

func TestReplaceDeletesActive(t *testing.T) {
	f := newFixture(t, t0.Add(10*time.Minute+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
	running := ownedJob(cj, t0.Add(5*time.Minute), "")
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0.Add(5 * time.Minute)}
	cj.Status.Active = []corev1.ObjectReference{jobRef(running)}
	f.cjs = append(f.cjs, cj)
	f.jobs = append(f.jobs, running)
	f.start()
	f.sync("hello")
	f.expectActions("delete jobs "+running.Name, "create jobs", "update cronjobs/status")
	st := f.cronJob("hello").Status
	if len(st.Active) != 1 || st.Active[0].Name != jobName(cj, t0.Add(10*time.Minute)) {
		t.Errorf("active %+v", st.Active)
	}
}

func TestStartingDeadline(t *testing.T) {
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Spec.StartingDeadlineSeconds = ptrTo(int64(10))
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0}

	// 30 s late for the 12:05 tick: skipped, next one awaited.
	f := newFixture(t, t0.Add(5*time.Minute+30*time.Second))
	f.cjs = append(f.cjs, cj.DeepCopy())
	f.start()
	if d := f.sync("hello"); d != 4*time.Minute+30*time.Second+nextScheduleDelta {
		t.Errorf("requeue after %v", d)
	}
	f.expectActions()

	// 5 s late: still started.
	f = newFixture(t, t0.Add(5*time.Minute+5*time.Second))
	f.cjs = append(f.cjs, cj.DeepCopy())
	f.start()
	f.sync("hello")
	f.expectActions("create jobs", "update cronjobs/status")
}

func TestTooManyMissed(t *testing.T) {
	f := newFixture(t, t0.Add(24*time.Hour+30*time.Second))
	f.cjs = append(f.cjs, newCronJob("hello", "* * * * *"))
	f.start()
	f.sync("hello")
	f.expectActions("create jobs", "update cronjobs/status")
	f.expectEvent("TooManyMissedTimes")
	if got := f.createdJob().Name; got != jobName(f.cjs[0], t0.Add(24*time.Hour)) {
		t.Errorf("created %s, want the latest tick", got)
	}
}

func TestSuspended(t *testing.T) {
	f := newFixture(t, t0.Add(time.Hour))
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Spec.Suspend = ptrTo(true)
	f.cjs = append(f.cjs, cj)
	f.start()
	if d := f.sync("hello"); d != 0 {
		t.Errorf("requeue after %v", d)
	}
	f.expectActions()
}

func TestHistoryCleanupAndLastSuccess(t *testing.T) {
	f := newFixture(t, t0.Add(time.Hour+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0.Add(time.Hour)}
	f.cjs = append(f.cjs, cj)
	var names []string
	for i := 1; i <= 7; i++ {
		cond := batchv1.JobComplete
		if i == 2 || i == 4 {
			cond = batchv1.JobFailed
		}
		j := ownedJob(cj, t0.Add(time.Duration(i)*5*time.Minute), cond)
		f.jobs = append(f.jobs, j)
		names = append(names, j.Name)
	}
	// The last one just finished but is still listed as active.
	cj.Status.Active = []corev1.ObjectReference{jobRef(f.jobs[6])}
	f.start()
	f.sync("hello")
	// Successes 1,3,5,6,7 keep 3 (delete 1,3); failures 2,4 keep 1 (delete 2).
	f.expectActions("delete jobs "+names[0], "delete jobs "+names[2], "delete jobs "+names[1], "update cronjobs/status")
	st := f.cronJob("hello").Status
	if len(st.Active) != 0 || st.LastSuccessfulTime == nil || !st.LastSuccessfulTime.Time.Equal(t0.Add(36*time.Minute)) {
		t.Errorf("status %+v", st)
	}
	f.expectEvent("SawCompletedJob")
}

func TestTimeZone(t *testing.T) {
	mustLoad(t, "Asia/Tokyo")
	// 09:00 in Tokyo is 00:00 UTC.
	now := time.Date(2026, 1, 2, 0, 0, 30, 0, time.UTC)
	f := newFixture(t, now)
	cj := newCronJob("hello", "0 9 * * *")
	cj.Spec.TimeZone = ptrTo("Asia/Tokyo")
	f.cjs = append(f.cjs, cj)
	f.start()
	f.sync("hello")
	f.expectActions("create jobs", "update cronjobs/status")
	job := f.createdJob()
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-02T09:00:00+09:00" {
		t.Errorf("annotation %q", got)
	}
	if want := fmt.Sprintf("hello-%d", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Unix()/60); job.Name != want {
		t.Errorf("name %s, want %s", job.Name, want)
	}
}

// A tick whose Job exists while lastScheduleTime is behind (the status
// write of the sync that made the Job failed) is recorded, not left stale.
func TestTickServedRecordsLastScheduleTime(t *testing.T) {
	f := newFixture(t, t0.Add(10*time.Minute+10*time.Second))
	cj := newCronJob("hello", "*/5 * * * *")
	cj.Status.LastScheduleTime = &metav1.Time{Time: t0.Add(5 * time.Minute)}
	f.cjs = append(f.cjs, cj)
	f.jobs = append(f.jobs, ownedJob(cj, t0.Add(10*time.Minute), batchv1.JobComplete))
	f.start()
	f.sync("hello")
	f.expectActions("update cronjobs/status")
	if st := f.cronJob("hello").Status; st.LastScheduleTime == nil || !st.LastScheduleTime.Time.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("lastScheduleTime %v, want the served tick %s", st.LastScheduleTime, t0.Add(10*time.Minute))
	}
}

// Jobs that started within the same second are pruned by their ticks,
// oldest first, whatever order the cache lists them in.
func TestHistoryTiesBrokenByTick(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
		f := newFixture(t, t0.Add(20*time.Minute+10*time.Second))
		cj := newCronJob("hello", "*/5 * * * *")
		cj.Spec.SuccessfulJobsHistoryLimit = ptrTo(int32(2))
		cj.Status.LastScheduleTime = &metav1.Time{Time: t0.Add(20 * time.Minute)}
		f.cjs = append(f.cjs, cj)
		var names []string
		for i := 0; i < 4; i++ {
			names = append(names, jobName(cj, t0.Add(time.Duration(i+1)*5*time.Minute)))
		}
		for _, i := range order {
			j := ownedJob(cj, t0.Add(time.Duration(i+1)*5*time.Minute), batchv1.JobComplete)
			j.Status.StartTime = &metav1.Time{Time: t0.Add(20 * time.Minute)} // all in one second
			f.jobs = append(f.jobs, j)
		}
		f.start()
		f.sync("hello")
		f.expectActions("delete jobs "+names[0], "delete jobs "+names[1], "update cronjobs/status")
	}
}
