package job

import (
	"context"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/expectations"
	"corral/controllers/worker"
)

const (
	controllerName = "job-controller"
	// managedByBuiltin is the spec.managedBy value (or nil) this controller serves.
	managedByBuiltin = "kubernetes.io/job-controller"
	// burst caps the pods created or deleted by one sync, so that one huge
	// Job does not starve the others sharing the workers.
	burst = 500
)

// orphanPrefix marks queue keys of pods (not Jobs) whose Job is gone
// but which still carry the tracking finalizer.
const orphanPrefix = "orphan-pod:"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller is the Job controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.WithTicker
	recorder record.EventRecorder
	events   record.EventBroadcaster

	jobLister batchlisters.JobLister
	podLister corelisters.PodLister
	// synced is replaced by tests, which fill the indexers by hand.
	synced func() bool

	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations.Store
	backoff      *backoffStore
	// replaced maps a Job key to the resourceVersion our last status write
	// replaced. A cache still showing it lags behind our own write: acting
	// on its counts could create pods for successes already counted.
	replaced sync.Map
}

// NewController returns a Job controller; the caller starts the informers.
// clk drives backoff, deadlines, TTLs and the queue's delays.
func NewController(client kubernetes.Interface, jobInformer batchinformers.JobInformer,
	podInformer coreinformers.PodInformer, clk clock.WithTicker) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:       client,
		clock:        clk,
		events:       broadcaster,
		recorder:     broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		jobLister:    jobInformer.Lister(),
		podLister:    podInformer.Lister(),
		expectations: expectations.New(clk),
		backoff:      &backoffStore{m: map[string]backoffRecord{}},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: clk}),
	}
	c.synced = func() bool {
		return jobInformer.Informer().HasSynced() && podInformer.Informer().HasSynced()
	}
	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.deleteJob,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	worker.Run(ctx, controllerName, workers, c.queue, []cache.InformerSynced{c.synced}, c.syncKey)
}

// syncKey syncs a Job, or releases an orphaned pod (orphanPrefix keys).
func (c *Controller) syncKey(ctx context.Context, key string) (time.Duration, error) {
	if podKey, ok := strings.CutPrefix(key, orphanPrefix); ok {
		return 0, c.syncOrphan(ctx, podKey)
	}
	return c.syncJob(ctx, key)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) deleteJob(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	// A re-created Job of the same name starts afresh. Its pods' finalizers
	// are released as the garbage collector's deletions show them orphaned.
	c.expectations.Delete(key)
	c.backoff.delete(key)
	c.replaced.Delete(key)
	c.queue.Add(key)
}

// jobKeyOf returns the key of the Job controlling a pod, if any. The Job
// itself need not exist: the key is queued anyway so that a sync releases
// the finalizers of pods whose Job is gone.
func jobKeyOf(pod *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return "", false
	}
	return pod.Namespace + "/" + ref.Name, true
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	key, ok := jobKeyOf(pod)
	if !ok {
		return
	}
	c.expectations.CreationObserved(key)
	if pod.DeletionTimestamp != nil {
		c.expectations.DeletionObserved(key, podKey(pod))
	}
	c.enqueuePodOwner(key, pod)
}

// enqueuePodOwner queues the pod's Job, or the pod itself when the Job is
// gone and the pod still holds the tracking finalizer.
func (c *Controller) enqueuePodOwner(key string, pod *corev1.Pod) {
	if hasTrackingFinalizer(pod) && !c.ownerExists(pod) {
		c.queue.Add(orphanPrefix + podKey(pod))
		return
	}
	c.queue.Add(key)
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	key, ok := jobKeyOf(cur)
	if !ok {
		if key, ok = jobKeyOf(old); ok { // released by its Job, or orphaned
			c.queue.Add(key)
			if hasTrackingFinalizer(cur) {
				c.queue.Add(orphanPrefix + podKey(cur))
			}
		}
		return
	}
	if cur.DeletionTimestamp != nil {
		c.expectations.DeletionObserved(key, podKey(cur))
	}
	if !hasTrackingFinalizer(cur) {
		c.expectations.RemovalObserved(key, string(cur.UID))
	}
	c.enqueuePodOwner(key, cur)
}

func (c *Controller) deletePod(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, ok := jobKeyOf(pod)
	if !ok {
		return
	}
	c.expectations.DeletionObserved(key, podKey(pod))
	c.expectations.RemovalObserved(key, string(pod.UID))
	c.queue.Add(key)
}

func hasTrackingFinalizer(pod *corev1.Pod) bool {
	for _, f := range pod.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}
