package daemonset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"corral/controllers/expectations"
	"corral/controllers/history"
	"corral/controllers/ownerindex"
	"corral/controllers/worker"
)

const (
	controllerName = "daemonset-controller"

	// burstReplicas caps the creates or deletes of one sync.
	burstReplicas = 250

	// Failed pods are replaced after a backoff per node, so a pod that
	// always fails does not spin.
	failedPodsBackoffInitial = time.Second
	failedPodsBackoffMax     = 15 * time.Minute
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller is the DaemonSet controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	events   record.EventBroadcaster

	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer // with ownerindex: the owner's pods and orphans
	nodeLister corelisters.NodeLister
	history    *history.History
	revLister  appslisters.ControllerRevisionLister
	// synced reports whether the informers have listed once; tests
	// replace it because they fill the indexers by hand.
	synced func() bool

	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *expectations.Store
	failedPods   *flowcontrol.Backoff
}

// NewController returns a DaemonSet controller. The informers must be
// started by the caller (usually through their shared factory).
func NewController(client kubernetes.Interface, dsInformer appsinformers.DaemonSetInformer,
	revInformer appsinformers.ControllerRevisionInformer, podInformer coreinformers.PodInformer,
	nodeInformer coreinformers.NodeInformer, clk clock.Clock) *Controller {
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
		dsLister:   dsInformer.Lister(),
		podLister:  podInformer.Lister(),
		podIndexer: podInformer.Informer().GetIndexer(),
		nodeLister: nodeInformer.Lister(),
		revLister:  revInformer.Lister(),
		history:    history.NewHistory(client, revInformer.Lister()),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset", Clock: queueClock}),
		expectations: expectations.New(clk),
		failedPods:   flowcontrol.NewFakeBackOff(failedPodsBackoffInitial, failedPodsBackoffMax, clk),
	}
	if err := ownerindex.Add(podInformer.Informer()); err != nil {
		utilruntime.HandleError(err) // syncs will fail and say so
	}
	c.synced = func() bool {
		return dsInformer.Informer().HasSynced() && podInformer.Informer().HasSynced() &&
			nodeInformer.Informer().HasSynced() && revInformer.Informer().HasSynced()
	}
	_, _ = dsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.deleteDS,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: func(interface{}) { c.enqueueAll() },
	})
	_, _ = revInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.revisionChanged,
		UpdateFunc: func(_, cur interface{}) { c.revisionChanged(cur) },
		DeleteFunc: c.revisionChanged,
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	// Drop the backoff records of nodes whose pods stopped failing.
	go wait.Until(c.failedPods.GC, time.Minute, ctx.Done())
	worker.Run(ctx, controllerName, workers, c.queue, []cache.InformerSynced{c.synced}, c.sync)
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.queue.Add(keyOf(ds))
	}
}

func (c *Controller) deleteDS(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the DaemonSet a controllerRef points to, or
// nil when it is not one of ours (or a different incarnation).
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// daemonSetsFor returns the DaemonSets whose selector matches an orphan's
// labels; each gets a chance to adopt it.
func (c *Controller) daemonSetsFor(ns string, lbl map[string]string) []*appsv1.DaemonSet {
	if len(lbl) == 0 {
		return nil
	}
	list, err := c.dsLister.DaemonSets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range list {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbl)) {
			continue
		}
		out = append(out, ds)
	}
	return out
}

func (c *Controller) addPod(obj interface{}) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
			c.expectations.CreationObserved(keyOf(ds))
			c.queue.Add(keyOf(ds))
		}
		return
	}
	for _, ds := range c.daemonSetsFor(pod.Namespace, pod.Labels) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	if cur.DeletionTimestamp != nil {
		c.deletePod(cur)
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	if oldRef != nil && (curRef == nil || curRef.UID != oldRef.UID) {
		if ds := c.resolveControllerRef(old.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(cur.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		// Ready pods turn available after minReadySeconds without an event.
		if ds.Spec.MinReadySeconds > 0 && !podReady(old) && podReady(cur) {
			c.queue.AddAfter(keyOf(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if !labels.Equals(old.Labels, cur.Labels) || oldRef != nil {
		for _, ds := range c.daemonSetsFor(cur.Namespace, cur.Labels) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) deletePod(obj interface{}) {
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
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	if ds := c.resolveControllerRef(pod.Namespace, ref); ds != nil {
		c.expectations.DeletionObserved(keyOf(ds), podKey(pod))
		c.queue.Add(keyOf(ds))
	}
}

// addNode enqueues the DaemonSets that should run on a new node.
func (c *Controller) addNode(obj interface{}) {
	node := obj.(*corev1.Node)
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		if run, _ := shouldRun(node, ds); run {
			c.queue.Add(keyOf(ds))
		}
	}
}

// updateNode enqueues the DaemonSets whose placement on the node changed.
func (c *Controller) updateNode(oldObj, curObj interface{}) {
	old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
	if equality.Semantic.DeepEqual(old.Labels, cur.Labels) && equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) &&
		old.Spec.Unschedulable == cur.Spec.Unschedulable {
		return // status updates and heartbeats change nothing here
	}
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		oldRun, oldKeep := shouldRun(old, ds)
		curRun, curKeep := shouldRun(cur, ds)
		if oldRun != curRun || oldKeep != curKeep {
			c.queue.Add(keyOf(ds))
		}
	}
}

// revisionChanged wakes the owner of a revision (a deleted or edited
// revision is re-created or re-adopted on its next sync).
func (c *Controller) revisionChanged(obj interface{}) {
	rev, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rev, ok = tomb.Obj.(*appsv1.ControllerRevision); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOf(rev); ref != nil {
		if ds := c.resolveControllerRef(rev.Namespace, ref); ds != nil {
			c.queue.Add(keyOf(ds))
		}
		return
	}
	for _, ds := range c.daemonSetsFor(rev.Namespace, rev.Labels) {
		c.enqueue(ds)
	}
}

func keyOf(ds *appsv1.DaemonSet) string { return ds.Namespace + "/" + ds.Name }

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// canAdopt re-reads the DaemonSet from the API before adopting: the cache
// may still show one that was deleted or replaced.
func (c *Controller) canAdopt(ds *appsv1.DaemonSet) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("daemonset %s is gone, not adopting", keyOf(ds))
			}
			return err
		}
		if fresh.UID != ds.UID {
			return fmt.Errorf("daemonset %s was re-created (uid %s, want %s), not adopting", keyOf(ds), fresh.UID, ds.UID)
		}
		if fresh.DeletionTimestamp != nil {
			return fmt.Errorf("daemonset %s is being deleted, not adopting", keyOf(ds))
		}
		return nil
	}
}
