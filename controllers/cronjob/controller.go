package cronjob

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/worker"
)

const controllerName = "cronjob-controller"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller is the CronJob controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.WithTicker
	recorder record.EventRecorder
	events   record.EventBroadcaster

	cjLister  batchlisters.CronJobLister
	jobLister batchlisters.JobLister
	// synced is replaced by tests, which fill the indexers by hand.
	synced func() bool

	// location is the zone of schedules without spec.timeZone; upstream
	// uses the controller manager's local zone.
	location *time.Location

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a CronJob controller; the caller starts the
// informers. clk drives both the schedule and the queue's delays.
func NewController(client kubernetes.Interface, cronJobInformer batchinformers.CronJobInformer,
	jobInformer batchinformers.JobInformer, clk clock.WithTicker) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:    client,
		clock:     clk,
		events:    broadcaster,
		recorder:  broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		cjLister:  cronJobInformer.Lister(),
		jobLister: jobInformer.Lister(),
		location:  time.Local,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob", Clock: clk}),
	}
	c.synced = func() bool {
		return cronJobInformer.Informer().HasSynced() && jobInformer.Informer().HasSynced()
	}
	_, _ = cronJobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	// A Job that changes (finishes, mostly) may free a Forbid slot or
	// update the history, so its CronJob looks again.
	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueOwner,
		UpdateFunc: func(_, cur interface{}) { c.enqueueOwner(cur) },
		DeleteFunc: c.enqueueOwner,
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	worker.Run(ctx, controllerName, workers, c.queue, []cache.InformerSynced{c.synced}, c.sync)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueOwner(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return
	}
	c.queue.Add(job.Namespace + "/" + ref.Name)
}
