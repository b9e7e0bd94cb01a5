package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
)

// manage creates or deletes pods so that the right number run, and
// returns how many it created and deleted and when to look again if the
// failure backoff held creations back.
func (c *Controller) manage(ctx context.Context, key string, job *batchv1.Job, s *jobState, succeeded int32, backoff time.Duration) (created, deleted int, requeue time.Duration, err error) {
	parallelism := 0
	if job.Spec.Parallelism != nil {
		parallelism = int(*job.Spec.Parallelism)
	}
	var toDelete []*corev1.Pod
	var toCreate []int // completion indexes; -1 for NonIndexed pods
	var wait time.Duration
	if isIndexed(job) {
		toDelete, toCreate = indexedDiff(job, s, parallelism)
		if hasBackoffLimitPerIndex(job) {
			// Each index backs off on its own failures, not the Job's.
			toCreate, wait = readyIndexes(toCreate, s.held, c.clock.Now())
			backoff = 0
		}
	} else {
		want := parallelism
		switch {
		case job.Spec.Completions != nil:
			want = min(want, max(0, int(*job.Spec.Completions-succeeded)))
		case succeeded > 0:
			// A work queue Job with a success: no new workers, the running
			// ones finish on their own.
			want = min(want, len(s.active))
		}
		if d := len(s.active) - want; d > 0 {
			toDelete = deletionOrder(s.active)[:d]
		}
		busy := len(s.active)
		if replaceOnlyFailed(job) {
			busy += len(s.terminating) // replaced once really stopped
		}
		for i := busy; i < want; i++ {
			toCreate = append(toCreate, -1)
		}
	}
	if len(toDelete) > 0 {
		deleted, err = c.deletePods(ctx, key, job, toDelete)
	}
	if len(toCreate) > 0 {
		if backoff > 0 {
			return 0, deleted, backoff, err
		}
		var cerr error
		created, cerr = c.createPods(ctx, key, job, toCreate[:min(len(toCreate), burst)], s.held)
		err = errors.Join(err, cerr)
	}
	return created, deleted, wait, err
}

// indexedDiff keeps one running pod per pending index: pods with an
// invalid, already-succeeded or failed index and duplicates go, and the
// lowest missing indexes get pods up to parallelism.
func indexedDiff(job *batchv1.Job, s *jobState, parallelism int) (toDelete []*corev1.Pod, toCreate []int) {
	completions := int(*job.Spec.Completions)
	byIndex := map[int]*corev1.Pod{}
	for _, p := range deletionOrder(s.active) {
		i := podIndex(p)
		// A failed index must not also succeed: a stray pod of it goes.
		if i < 0 || i >= completions || s.succeededIndexes.Has(i) || s.failedIndexes.Has(i) {
			toDelete = append(toDelete, p)
			continue
		}
		if prev, dup := byIndex[i]; dup {
			// deletionOrder puts the better pod last: keep it.
			toDelete = append(toDelete, prev)
		}
		byIndex[i] = p
	}
	busy := sets.KeySet(byIndex)
	if replaceOnlyFailed(job) {
		// Replace an index only once its old pod has really stopped.
		for _, p := range s.terminating {
			busy.Insert(podIndex(p))
		}
	}
	want := max(0, min(parallelism, completions-s.succeededIndexes.Len()))
	if excess := len(byIndex) - want; excess > 0 {
		running := sets.List(sets.KeySet(byIndex))
		for _, i := range running[len(running)-excess:] {
			toDelete = append(toDelete, byIndex[i])
		}
		return toDelete, nil
	}
	for i := 0; i < completions && len(byIndex)+len(toCreate) < want; i++ {
		if !busy.Has(i) && !s.succeededIndexes.Has(i) && !s.failedIndexes.Has(i) {
			toCreate = append(toCreate, i)
		}
	}
	return toDelete, toCreate
}

// deletionOrder sorts pods so that the cheapest to lose come first:
// unscheduled, then pending, then not ready, then the youngest.
func deletionOrder(pods []*corev1.Pod) []*corev1.Pod {
	out := append([]*corev1.Pod(nil), pods...)
	rank := func(p *corev1.Pod) int {
		switch {
		case p.Spec.NodeName == "":
			return 0
		case p.Status.Phase == corev1.PodPending:
			return 1
		case !podReady(p):
			return 2
		}
		return 3
	}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank(out[a]), rank(out[b]); ra != rb {
			return ra < rb
		}
		return out[b].CreationTimestamp.Before(&out[a].CreationTimestamp)
	})
	return out
}

// createPods creates pods in slow-start batches (1, 2, 4, ...), so that a
// template the API rejects costs one request, not hundreds. held gives,
// with backoffLimitPerIndex, the failed pod each index's new pod replaces.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, indexes []int, held map[int]failure) (int, error) {
	c.expectations.ExpectCreations(key, len(indexes))
	created := 0
	for batch := 1; len(indexes) > 0; batch *= 2 {
		n := min(batch, len(indexes))
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				pod := newPod(job, indexes[i])
				if hasBackoffLimitPerIndex(job) {
					setIndexFailureCounts(pod, held[indexes[i]])
				}
				_, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
				if err != nil {
					// The informer will never see this pod.
					c.expectations.CreationObserved(key)
					errs[i] = err
				}
			}(i)
		}
		wg.Wait()
		indexes = indexes[n:]
		if err := errors.Join(errs...); err != nil {
			for range indexes {
				c.expectations.CreationObserved(key)
			}
			c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return created + n - countErrs(errs), err
		}
		created += n
		c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created %d pod(s)", n)
	}
	return created, nil
}

func countErrs(errs []error) int {
	n := 0
	for _, e := range errs {
		if e != nil {
			n++
		}
	}
	return n
}

// newPod builds a pod from the template. The template already carries
// the controller-uid and job-name labels the API server added.
func newPod(job *batchv1.Job, index int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      append(t.Finalizers, batchv1.JobTrackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
	if index < 0 {
		return pod
	}
	idx := strconv.Itoa(index)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = idx
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = idx
	suffix := "-" + idx
	// Names stay valid: generateName leaves room for 5 random characters,
	// a host name is one DNS label.
	pod.GenerateName = truncate(job.Name, 58-len(suffix)-1) + suffix + "-"
	pod.Spec.Hostname = truncate(job.Name, 63-len(suffix)) + suffix
	addIndexEnv(pod.Spec.InitContainers)
	addIndexEnv(pod.Spec.Containers)
	return pod
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// addIndexEnv gives containers JOB_COMPLETION_INDEX from the annotation,
// as upstream does, unless the template defines it itself.
func addIndexEnv(containers []corev1.Container) {
	for i := range containers {
		c := &containers[i]
		has := false
		for _, e := range c.Env {
			has = has || e.Name == "JOB_COMPLETION_INDEX"
		}
		if !has {
			c.Env = append(c.Env, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)},
			}})
		}
	}
}

// deletePods deletes pods and returns how many deletions were accepted.
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (int, error) {
	var errs []error
	deleted := 0
	for _, p := range pods[:min(len(pods), burst)] {
		c.expectations.ExpectDeletion(key, podKey(p))
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.expectations.DeletionObserved(key, podKey(p))
			errs = append(errs, err)
			continue
		}
		deleted++
	}
	if deleted > 0 {
		c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted %d pod(s)", deleted)
	}
	return deleted, errors.Join(errs...)
}

// removeFinalizers takes the tracking finalizer off the pods and returns
// the UIDs it was removed from (or that no longer exist).
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) (sets.Set[types.UID], error) {
	done := sets.New[types.UID]()
	var errs []error
	for _, p := range pods {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
			// Precondition: never touch a new pod that reuses the name.
			"uid": p.UID,
		}})
		// Expect before sending: the informer may report the removal
		// before Patch returns, and an expectation recorded after its
		// event would wait for one that never comes.
		if key != "" {
			c.expectations.ExpectRemoval(key, string(p.UID))
		}
		_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && key != "" {
			c.expectations.RemovalObserved(key, string(p.UID)) // no event will come
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		done.Insert(p.UID)
	}
	return done, errors.Join(errs...)
}
