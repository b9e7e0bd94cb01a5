package job

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
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

// fixture follows sample-controller: objects go into the fake clientset
// and, by hand, into the informer indexers; informers never run.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	jobs   []*batchv1.Job
	pods   []*corev1.Pod
	ctrl   *Controller
	inf    informers.SharedInformerFactory
	rv     int
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, clock: clocktesting.NewFakeClock(t0)}
}

func (f *fixture) start() {
	var objs []runtime.Object
	for _, j := range f.jobs {
		objs = append(objs, j)
	}
	for _, p := range f.pods {
		objs = append(objs, p)
	}
	f.client = fake.NewClientset(objs...)
	var n atomic.Int32 // the fake tracker does not implement generateName
	f.client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
		if pod.Name == "" {
			pod.Name = fmt.Sprintf("%s%d", pod.GenerateName, n.Add(1))
		}
		return false, nil, nil
	})
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	f.ctrl = NewController(f.client, f.inf.Batch().V1().Jobs(), f.inf.Core().V1().Pods(), f.clock)
	f.ctrl.synced = func() bool { return true }
	f.ctrl.recorder = record.NewFakeRecorder(100)
	for _, j := range f.jobs {
		_ = f.inf.Batch().V1().Jobs().Informer().GetIndexer().Add(j)
	}
	for _, p := range f.pods {
		_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(p)
	}
}

// sync runs one sync of the Job and fails the test on error.
func (f *fixture) sync(name string) time.Duration {
	f.t.Helper()
	f.client.ClearActions()
	d, err := f.ctrl.syncJob(context.Background(), "default/"+name)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return d
}

// refresh copies the Job from the fake API into the indexer, as the
// informer would.
func (f *fixture) refresh(name string) *batchv1.Job {
	f.t.Helper()
	j := f.job(name)
	// The fake tracker does not bump resource versions; the controller
	// ignores a cached Job still at the version its own write replaced.
	f.rv++
	j.ResourceVersion = fmt.Sprintf("rv-%d", f.rv)
	_ = f.inf.Batch().V1().Jobs().Informer().GetIndexer().Update(j)
	return j
}

func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (f *fixture) expectActions(want ...string) {
	f.t.Helper()
	sort.Strings(want)
	if got := f.actions(); strings.Join(got, ",") != strings.Join(want, ",") {
		f.t.Fatalf("actions:\n got  %v\n want %v", got, want)
	}
}

func (f *fixture) createdPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func newJob(name string, completions, parallelism int32) *batchv1.Job {
	uid := types.UID("uid-" + name)
	lbl := map[string]string{batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: name,
		"controller-uid": string(uid), "job-name": name}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: uid, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Completions:    &completions,
			Parallelism:    &parallelism,
			BackoffLimit:   ptrTo(int32(6)),
			CompletionMode: ptrTo(batchv1.NonIndexedCompletion),
			Suspend:        ptrTo(false),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	return j
}

func testPod(job *batchv1.Job, name string, phase corev1.PodPhase, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			Labels:            job.Spec.Template.Labels,
			Finalizers:        []string{batchv1.JobTrackingFinalizer},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
			CreationTimestamp: metav1.NewTime(t0),
		},
		Spec:   corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: phase},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withIndex(i int) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)}
	}
}

func cond(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	return conditionTrue(j, t)
}

func TestCreatesParallelismPods(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 5, 2)
	f.jobs = append(f.jobs, job)
	f.start()
	f.sync("pi")
	f.expectActions("create pods", "create pods", "update jobs/status")
	for _, p := range f.createdPods() {
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.UID != job.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: controller ref %+v", p.Name, ref)
		}
		if p.GenerateName != "pi-" || p.Labels[batchv1.ControllerUidLabel] != string(job.UID) || p.Labels["job-name"] != "pi" {
			t.Errorf("pod %s: labels %v", p.Name, p.Labels)
		}
		if !hasTrackingFinalizer(p) {
			t.Errorf("pod %s has no tracking finalizer", p.Name)
		}
	}
	got := f.job("pi").Status
	if got.Active != 2 || got.StartTime == nil || !got.StartTime.Time.Equal(t0) {
		t.Errorf("status: active %d startTime %v", got.Active, got.StartTime)
	}
	// The creates are not in the cache yet: a second sync must not add more.
	f.refresh("pi")
	f.sync("pi")
	f.expectActions()
}

func TestParallelismCappedByRemainingCompletions(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 3, 3)
	job.Status.Succeeded = 2
	f.jobs = append(f.jobs, job)
	f.start()
	f.sync("pi")
	f.expectActions("create pods", "update jobs/status")
}

func TestCompletesAfterCompletions(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 2, 2)
	job.Status.StartTime = &metav1.Time{Time: t0}
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodSucceeded), testPod(job, "b", corev1.PodSucceeded))
	f.start()
	f.clock.Step(time.Minute)
	f.sync("pi")
	// Record as uncounted, release the finalizers, then count.
	f.expectActions("update jobs/status", "patch pods", "patch pods", "update jobs/status")
	got := f.job("pi")
	if got.Status.Succeeded != 2 || got.Status.Active != 0 || got.Status.UncountedTerminatedPods == nil ||
		len(got.Status.UncountedTerminatedPods.Succeeded) != 0 {
		t.Errorf("status %+v", got.Status)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		if c := cond(got, ct); c == nil || c.Reason != batchv1.JobReasonCompletionsReached {
			t.Errorf("condition %s: %+v", ct, c)
		}
	}
	if got.Status.CompletionTime == nil || !got.Status.CompletionTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("completionTime %v", got.Status.CompletionTime)
	}
	for _, name := range []string{"a", "b"} {
		p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if hasTrackingFinalizer(p) {
			t.Errorf("pod %s keeps its finalizer", name)
		}
	}
}

func TestCountsDeletedPodOnce(t *testing.T) {
	// A pod released but still shown with its finalizer by a lagging
	// cache must not be counted again.
	f := newFixture(t)
	job := newJob("pi", 3, 1)
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodSucceeded))
	f.start()
	f.sync("pi")
	f.refresh("pi")
	f.sync("pi")
	if got := f.job("pi").Status.Succeeded; got != 1 {
		t.Fatalf("succeeded = %d, want 1", got)
	}
	// The pod vanishes: still counted once.
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(f.pods[0])
	f.ctrl.deletePod(f.pods[0])
	f.refresh("pi")
	f.sync("pi")
	if got := f.job("pi").Status.Succeeded; got != 1 {
		t.Fatalf("succeeded = %d, want 1", got)
	}
}

func TestBackoffBetweenRetries(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 1, 1)
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodFailed))
	f.start()
	if d := f.sync("pi"); d != 10*time.Second {
		t.Fatalf("requeue after %v, want 10s", d)
	}
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	if got := f.job("pi").Status.Failed; got != 1 {
		t.Fatalf("failed = %d", got)
	}
	// The finalizer removal shows up in the cache.
	a := f.pods[0].DeepCopy()
	a.Finalizers = nil
	a.ResourceVersion = "2"
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Update(a)
	f.ctrl.updatePod(f.pods[0], a)
	f.refresh("pi")
	f.clock.Step(9 * time.Second)
	if d := f.sync("pi"); d != time.Second {
		t.Fatalf("requeue after %v, want 1s", d)
	}
	f.expectActions()
	f.clock.Step(time.Second)
	f.sync("pi")
	f.expectActions("create pods", "update jobs/status")
}

func TestBackoffDelays(t *testing.T) {
	for failures, want := range map[int]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second,
		3: 40 * time.Second, 6: 320 * time.Second, 7: 6 * time.Minute, 30: 6 * time.Minute} {
		if got := (backoffRecord{failures: failures}).delay(); got != want {
			t.Errorf("delay(%d) = %v, want %v", failures, got, want)
		}
	}
}

func TestFailsWithBackoffLimitExceeded(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 1, 1)
	job.Spec.BackoffLimit = ptrTo(int32(2))
	job.Status.Failed = 2
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "c", corev1.PodFailed))
	f.start()
	f.sync("pi")
	f.expectActions("update jobs/status", "patch pods", "update jobs/status")
	got := f.job("pi")
	if got.Status.Failed != 3 {
		t.Errorf("failed = %d", got.Status.Failed)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		if c := cond(got, ct); c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded {
			t.Errorf("condition %s: %+v", ct, c)
		}
	}
	if got.Status.CompletionTime != nil {
		t.Error("a failed Job has no completionTime")
	}
}

func TestRestartsCountWithOnFailure(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 1, 1)
	job.Spec.BackoffLimit = ptrTo(int32(3))
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodRunning, func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: 3}}
	}))
	f.start()
	f.sync("pi")
	f.expectActions("delete pods", "update jobs/status")
	got := f.job("pi")
	if c := cond(got, batchv1.JobFailureTarget); c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("FailureTarget: %+v", c)
	}
	if cond(got, batchv1.JobFailed) != nil {
		t.Error("Failed set while a pod is still terminating")
	}
}

func TestActiveDeadline(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 1, 1)
	job.Spec.ActiveDeadlineSeconds = ptrTo(int64(60))
	job.Status.StartTime = &metav1.Time{Time: t0}
	f.jobs = append(f.jobs, job)
	running := testPod(job, "a", corev1.PodRunning)
	f.pods = append(f.pods, running)
	f.start()
	if d := f.sync("pi"); d != time.Minute {
		t.Fatalf("requeue after %v, want the deadline", d)
	}
	f.expectActions("update jobs/status")
	f.refresh("pi")

	f.clock.Step(time.Minute)
	f.sync("pi")
	f.expectActions("delete pods", "update jobs/status")
	got := f.refresh("pi")
	if c := cond(got, batchv1.JobFailureTarget); c == nil || c.Reason != batchv1.JobReasonDeadlineExceeded {
		t.Fatalf("FailureTarget: %+v", c)
	}
	if got.Status.Active != 0 || cond(got, batchv1.JobFailed) != nil {
		t.Fatalf("status %+v", got.Status)
	}
	// The pod terminates and disappears: counted failed, then Failed.
	gone := running.DeepCopy()
	gone.DeletionTimestamp = &metav1.Time{Time: f.clock.Now()}
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Update(gone)
	f.ctrl.updatePod(running, gone)
	f.sync("pi")
	f.refresh("pi")
	_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(gone)
	f.ctrl.deletePod(gone)
	f.sync("pi")
	got = f.job("pi")
	if c := cond(got, batchv1.JobFailed); c == nil || c.Reason != batchv1.JobReasonDeadlineExceeded || got.Status.Failed != 1 {
		t.Fatalf("status %+v", got.Status)
	}
}

func TestIndexed(t *testing.T) {
	f := newFixture(t)
	job := newJob("idx", 4, 2)
	job.Spec.CompletionMode = ptrTo(batchv1.IndexedCompletion)
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "idx-0", corev1.PodSucceeded, withIndex(0)),
		testPod(job, "idx-2", corev1.PodRunning, withIndex(2)))
	f.start()
	f.sync("idx")
	f.expectActions("update jobs/status", "patch pods", "create pods", "update jobs/status")
	created := f.createdPods()
	if len(created) != 1 {
		t.Fatalf("created %d pods", len(created))
	}
	p := created[0]
	if p.Annotations[batchv1.JobCompletionIndexAnnotation] != "1" || p.Labels[batchv1.JobCompletionIndexAnnotation] != "1" ||
		p.Spec.Hostname != "idx-1" || p.GenerateName != "idx-1-" {
		t.Errorf("pod %s: annotations %v labels %v hostname %q", p.Name, p.Annotations, p.Labels, p.Spec.Hostname)
	}
	if env := p.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" {
		t.Errorf("env %+v", env)
	}
	got := f.job("idx").Status
	if got.CompletedIndexes != "0" || got.Succeeded != 1 || got.Active != 2 {
		t.Errorf("status %+v", got)
	}
}

func TestIndexesRoundTrip(t *testing.T) {
	for _, s := range []string{"", "0", "1,3-5", "0-9", "2,4,7,8", "0,1,3-6"} {
		if got := formatIndexes(parseIndexes(s, 10)); got != s {
			t.Errorf("%q -> %q", s, got)
		}
	}
	if got := formatIndexes(parseIndexes("1,3-12", 6)); got != "1,3-5" {
		t.Errorf("out-of-range indexes kept: %q", got)
	}
}

func TestSuspend(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 4, 2)
	job.Spec.Suspend = ptrTo(true)
	job.Status.StartTime = &metav1.Time{Time: t0}
	f.jobs = append(f.jobs, job)
	f.pods = append(f.pods, testPod(job, "a", corev1.PodRunning), testPod(job, "b", corev1.PodPending))
	f.start()
	f.sync("pi")
	f.expectActions("delete pods", "delete pods", "update jobs/status")
	got := f.refresh("pi")
	if c := cond(got, batchv1.JobSuspended); c == nil || c.Reason != "JobSuspended" || got.Status.Active != 0 {
		t.Fatalf("status %+v", got.Status)
	}
	// Pods stopped by suspension are released, not counted as failures.
	for _, p := range f.pods {
		gone := p.DeepCopy()
		gone.DeletionTimestamp = &metav1.Time{Time: t0}
		_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Update(gone)
	}
	f.ctrl.expectations.Delete("default/pi")
	f.sync("pi")
	f.expectActions("patch pods", "patch pods")
	if got := f.refresh("pi"); got.Status.Failed != 0 {
		t.Fatalf("failed = %d", got.Status.Failed)
	}
	// Resuming restarts the clock and creates pods again.
	for _, p := range f.pods {
		_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(p)
	}
	f.ctrl.expectations.Delete("default/pi")
	resumed := f.job("pi")
	resumed.Spec.Suspend = ptrTo(false)
	resumed.ResourceVersion = "resumed"
	_ = f.inf.Batch().V1().Jobs().Informer().GetIndexer().Update(resumed)
	f.clock.Step(time.Hour)
	f.sync("pi")
	f.expectActions("create pods", "create pods", "update jobs/status")
	got = f.job("pi")
	if c := findCondition(&got.Status, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionFalse ||
		!got.Status.StartTime.Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("status %+v", got.Status)
	}
}

func TestTTLAfterFinished(t *testing.T) {
	f := newFixture(t)
	job := newJob("pi", 1, 1)
	job.Spec.TTLSecondsAfterFinished = ptrTo(int32(100))
	job.Status.CompletionTime = &metav1.Time{Time: t0}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.Time{Time: t0}}}
	f.jobs = append(f.jobs, job)
	f.start()
	f.clock.Step(40 * time.Second)
	if d := f.sync("pi"); d != 60*time.Second {
		t.Fatalf("requeue after %v, want 60s", d)
	}
	f.expectActions()
	f.clock.Step(60 * time.Second)
	f.sync("pi")
	f.expectActions("delete jobs")
	del := f.client.Actions()[0].(core.DeleteAction)
	if pp := del.GetDeleteOptions().PropagationPolicy; pp == nil || *pp != metav1.DeletePropagationBackground {
		t.Errorf("propagation %v", pp)
	}
}

func TestOrphanPodReleased(t *testing.T) {
	f := newFixture(t)
	job := newJob("gone", 1, 1) // not in the cache: deleted
	pod := testPod(job, "a", corev1.PodRunning)
	pod.DeletionTimestamp = &metav1.Time{Time: t0}
	f.pods = append(f.pods, pod)
	f.start()
	f.ctrl.addPod(pod)
	key, _ := f.ctrl.queue.Get()
	if key != orphanPrefix+"default/a" {
		t.Fatalf("queued %q", key)
	}
	f.client.ClearActions()
	if err := f.ctrl.syncOrphan(context.Background(), "default/a"); err != nil {
		t.Fatal(err)
	}
	f.expectActions("patch pods")
}

// TestRun drives the controller through informers fed by the fake
// clientset. (Counting is covered above: the fake tracker does not bump
// resource versions, so later pod updates would look like resyncs.)
func TestRun(t *testing.T) {
	job := newJob("pi", 3, 2)
	client := fake.NewClientset(job)
	var n atomic.Int32
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		pod := a.(core.CreateAction).GetObject().(*corev1.Pod)
		pod.Name = fmt.Sprintf("%s%d", pod.GenerateName, n.Add(1))
		return false, nil, nil
	})
	inf := informers.NewSharedInformerFactory(client, 0)
	c := NewController(client, inf.Batch().V1().Jobs(), inf.Core().V1().Pods(), clocktesting.NewFakeClock(t0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf.Start(ctx.Done())
	go c.Run(ctx, 2)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		j, _ := client.BatchV1().Jobs("default").Get(ctx, "pi", metav1.GetOptions{})
		if j.Status.Active == 2 {
			// Give a wrong extra create a chance to show.
			time.Sleep(200 * time.Millisecond)
			if pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); len(pods.Items) != 2 {
				t.Fatalf("%d pods, want 2", len(pods.Items))
			}
			return
		}
	}
	t.Fatal("pods never created")
}
