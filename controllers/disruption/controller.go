package disruption

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	policyinformers "k8s.io/client-go/informers/policy/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/worker"
)

const (
	controllerName = "disruption-controller"

	// DeletionTimeout is how long an evicted pod stays in a budget's
	// disruptedPods (and out of its healthy count) waiting to be deleted.
	DeletionTimeout = 2 * time.Minute
)

// Controller is the PodDisruptionBudget controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	events   record.EventBroadcaster

	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	// synced reports whether every informer has listed once; tests
	// replace it because they fill the indexers by hand.
	synced func() bool

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a disruption controller. The informers must be
// started by the caller (usually through their shared factory).
func NewController(client kubernetes.Interface, pdbInformer policyinformers.PodDisruptionBudgetInformer,
	podInformer coreinformers.PodInformer, rsInformer appsinformers.ReplicaSetInformer,
	dInformer appsinformers.DeploymentInformer, ssInformer appsinformers.StatefulSetInformer, clk clock.Clock) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	queueClock, ok := clk.(clock.WithTicker)
	if !ok {
		queueClock = clock.RealClock{}
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:    client,
		clock:     clk,
		events:    broadcaster,
		recorder:  broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		pdbLister: pdbInformer.Lister(),
		podLister: podInformer.Lister(),
		rsLister:  rsInformer.Lister(),
		dLister:   dInformer.Lister(),
		ssLister:  ssInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "disruption", Clock: queueClock}),
	}
	informers := []cache.SharedIndexInformer{pdbInformer.Informer(), podInformer.Informer(),
		rsInformer.Informer(), dInformer.Informer(), ssInformer.Informer()}
	c.synced = func() bool {
		for _, inf := range informers {
			if !inf.HasSynced() {
				return false
			}
		}
		return true
	}

	_, _ = pdbInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.podChanged,
	})
	// A workload's scale is the denominator of percentages and of
	// maxUnavailable: look again when it changes, before its pods do.
	scaleChanged := func(ns string) { c.enqueueNamespace(ns) }
	_, _ = rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur interface{}) {
		o, n := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
		if replicas(o.Spec.Replicas) != replicas(n.Spec.Replicas) {
			scaleChanged(n.Namespace)
		}
	}})
	_, _ = dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur interface{}) {
		o, n := old.(*appsv1.Deployment), cur.(*appsv1.Deployment)
		if replicas(o.Spec.Replicas) != replicas(n.Spec.Replicas) {
			scaleChanged(n.Namespace)
		}
	}})
	_, _ = ssInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur interface{}) {
		o, n := old.(*appsv1.StatefulSet), cur.(*appsv1.StatefulSet)
		if replicas(o.Spec.Replicas) != replicas(n.Spec.Replicas) {
			scaleChanged(n.Namespace)
		}
	}})
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

func (c *Controller) enqueueNamespace(ns string) {
	pdbs, err := c.pdbLister.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		c.enqueue(pdb)
	}
}

// enqueueForPod queues every budget whose selector matches the pod.
func (c *Controller) enqueueForPod(pod *corev1.Pod) {
	// The lister's error only means that no budget matched.
	pdbs, _ := c.pdbLister.GetPodPodDisruptionBudgets(pod)
	for _, pdb := range pdbs {
		c.enqueue(pdb)
	}
}

func (c *Controller) podChanged(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	c.enqueueForPod(pod)
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // periodic resync
	}
	c.enqueueForPod(cur)
	if !labels.Equals(old.Labels, cur.Labels) {
		c.enqueueForPod(old)
	}
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1 // the API's default
	}
	return *r
}
