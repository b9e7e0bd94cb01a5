package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/history"
	"corral/controllers/ownerindex"
	"corral/controllers/worker"
)

const controllerName = "statefulset-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	events   record.EventBroadcaster

	setLister  appslisters.StatefulSetLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer // with ownerindex: the owner's pods and orphans
	pvcLister  corelisters.PersistentVolumeClaimLister
	history    *history.History
	// synced reports whether the informers have listed once; tests
	// replace it because they fill the indexers by hand.
	synced func() bool

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a StatefulSet controller. The informers must be
// started by the caller (usually through their shared factory).
func NewController(client kubernetes.Interface, setInformer appsinformers.StatefulSetInformer,
	revInformer appsinformers.ControllerRevisionInformer, podInformer coreinformers.PodInformer,
	pvcInformer coreinformers.PersistentVolumeClaimInformer, clk clock.Clock) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	queueClock, ok := clk.(clock.WithTicker)
	if !ok {
		queueClock = clock.RealClock{}
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:     client,
		clock:      clk,
		events:     broadcaster,
		recorder:   broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		setLister:  setInformer.Lister(),
		podLister:  podInformer.Lister(),
		podIndexer: podInformer.Informer().GetIndexer(),
		pvcLister:  pvcInformer.Lister(),
		history:    history.NewHistory(client, revInformer.Lister()),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset", Clock: queueClock}),
	}
	if err := ownerindex.Add(podInformer.Informer()); err != nil {
		utilruntime.HandleError(err) // syncs will fail and say so
	}
	c.synced = func() bool {
		return setInformer.Informer().HasSynced() && podInformer.Informer().HasSynced() &&
			pvcInformer.Informer().HasSynced() && revInformer.Informer().HasSynced()
	}
	_, _ = setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.podChanged,
	})
	_, _ = revInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.ownedChanged,
		UpdateFunc: func(_, cur interface{}) { c.ownedChanged(cur) },
		DeleteFunc: c.ownedChanged,
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

// resolveControllerRef returns the set a controllerRef points to, or nil
// when it is not one of ours (or a different incarnation).
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

// setsFor returns the sets whose selector matches an orphan's labels.
func (c *Controller) setsFor(ns string, lbl map[string]string) []*appsv1.StatefulSet {
	if len(lbl) == 0 {
		return nil
	}
	list, err := c.setLister.StatefulSets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.StatefulSet
	for _, set := range list {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbl)) {
			continue
		}
		out = append(out, set)
	}
	return out
}

// ownedChanged wakes the controller of a pod or revision, or the sets
// that may adopt it.
func (c *Controller) ownedChanged(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(m); ref != nil {
		if set := c.resolveControllerRef(m.GetNamespace(), ref); set != nil {
			c.queue.Add(keyOf(set))
		}
		return
	}
	for _, set := range c.setsFor(m.GetNamespace(), m.GetLabels()) {
		c.queue.Add(keyOf(set))
	}
}

func (c *Controller) podChanged(obj interface{}) { c.ownedChanged(obj) }

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if oldRef := metav1.GetControllerOf(old); oldRef != nil {
		if curRef := metav1.GetControllerOf(cur); curRef == nil || curRef.UID != oldRef.UID {
			c.ownedChanged(old) // released: the old owner recounts
		}
	}
	c.ownedChanged(cur)
	// A pod that just became ready turns available after minReadySeconds.
	if ref := metav1.GetControllerOf(cur); ref != nil && !runningAndReady(old) && runningAndReady(cur) {
		if set := c.resolveControllerRef(cur.Namespace, ref); set != nil && set.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(set), time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
	}
}

func keyOf(set *appsv1.StatefulSet) string { return set.Namespace + "/" + set.Name }

// canAdopt re-reads the set from the API before adopting: the cache may
// still show one that was deleted or replaced.
func (c *Controller) canAdopt(set *appsv1.StatefulSet) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("statefulset %s is gone, not adopting", keyOf(set))
			}
			return err
		}
		if fresh.UID != set.UID {
			return fmt.Errorf("statefulset %s was re-created (uid %s, want %s), not adopting", keyOf(set), fresh.UID, set.UID)
		}
		if fresh.DeletionTimestamp != nil {
			return fmt.Errorf("statefulset %s is being deleted, not adopting", keyOf(set))
		}
		return nil
	}
}
