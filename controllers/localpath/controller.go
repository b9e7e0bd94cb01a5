package localpath

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/worker"
)

const (
	controllerName = "local-path-provisioner"

	// Provisioner is the provisioner name of the classes this controller
	// serves.
	Provisioner = "corral.dev/local-path"
	// ClassName is the default class corral's API server creates.
	ClassName = "local-path"
	// DefaultRoot is where volumes live on a node unless configured.
	DefaultRoot = "/var/lib/corral/storage"

	// Annotations of the upstream binding protocol.
	AnnSelectedNode       = "volume.kubernetes.io/selected-node"
	AnnProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	AnnBindCompleted      = "pv.kubernetes.io/bind-completed"
	AnnBoundByController  = "pv.kubernetes.io/bound-by-controller"
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	AnnBetaStorageProv    = "volume.beta.kubernetes.io/storage-provisioner"
)

// Options configure the provisioner.
type Options struct {
	// Root is the directory on each node under which volumes are made
	// (default DefaultRoot).
	Root string
}

// Controller provisions and binds local-path volumes.
type Controller struct {
	client   kubernetes.Interface
	opts     Options
	recorder record.EventRecorder
	events   record.EventBroadcaster

	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
	pods    corelisters.PodLister
	// synced is replaced by tests, which fill the indexers by hand.
	synced func() bool

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a provisioner; the informers are started by the
// caller. A nil clock means the real one (it only paces retries).
func NewController(client kubernetes.Interface, claimInformer coreinformers.PersistentVolumeClaimInformer,
	pvInformer coreinformers.PersistentVolumeInformer, classInformer storageinformers.StorageClassInformer,
	podInformer coreinformers.PodInformer, opts Options, clk clock.WithTicker) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if opts.Root == "" {
		opts.Root = DefaultRoot
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:   client,
		opts:     opts,
		events:   broadcaster,
		recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		claims:   claimInformer.Lister(),
		volumes:  pvInformer.Lister(),
		classes:  classInformer.Lister(),
		pods:     podInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "localpath", Clock: clk}),
	}
	c.synced = func() bool {
		return claimInformer.Informer().HasSynced() && pvInformer.Informer().HasSynced() &&
			classInformer.Informer().HasSynced() && podInformer.Informer().HasSynced()
	}
	_, _ = claimInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueClaim,
		UpdateFunc: func(_, cur interface{}) { c.enqueueClaim(cur) },
		DeleteFunc: c.enqueueClaim,
	})
	_, _ = pvInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueVolume,
		UpdateFunc: func(_, cur interface{}) { c.enqueueVolume(cur) },
		DeleteFunc: c.enqueueVolume,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueuePod,
		UpdateFunc: func(old, cur interface{}) {
			if o, ok := old.(*corev1.Pod); ok && o.Spec.NodeName != "" {
				return // already seen scheduled
			}
			c.enqueuePod(cur)
		},
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

func (c *Controller) enqueueClaim(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// enqueueVolume queues the claim of one of our volumes, so that a volume
// whose claim is gone gets reclaimed even after a restart.
func (c *Controller) enqueueVolume(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok || !ours(pv) || pv.Spec.ClaimRef == nil {
		return
	}
	c.queue.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
}

// enqueuePod queues the claims of a scheduled pod: its node is where they
// are to be provisioned.
func (c *Controller) enqueuePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	for _, name := range ClaimNames(pod) {
		c.queue.Add(pod.Namespace + "/" + name)
	}
}

// ClaimNames lists the claims a pod's volumes use, ephemeral ones by the
// name upstream gives them (<pod>-<volume>).
func ClaimNames(pod *corev1.Pod) []string {
	var out []string
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}

func ours(pv *corev1.PersistentVolume) bool {
	return pv.Annotations[AnnProvisionedBy] == Provisioner
}
