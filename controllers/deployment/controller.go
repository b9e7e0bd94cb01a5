package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
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

	"corral/controllers/worker"
)

const controllerName = "deployment-controller"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller is the Deployment controller.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.Clock
	recorder record.EventRecorder
	events   record.EventBroadcaster

	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	// synced reports whether the informers have listed once; tests
	// replace it because they fill the indexers by hand.
	synced func() bool

	queue workqueue.TypedRateLimitingInterface[string]
}

// NewController returns a Deployment controller. The informers must be
// started by the caller (usually through their shared factory).
func NewController(client kubernetes.Interface, dInformer appsinformers.DeploymentInformer,
	rsInformer appsinformers.ReplicaSetInformer, podInformer coreinformers.PodInformer, clk clock.Clock) *Controller {
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
		dLister:   dInformer.Lister(),
		rsLister:  rsInformer.Lister(),
		podLister: podInformer.Lister(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment", Clock: queueClock}),
	}
	c.synced = func() bool {
		return dInformer.Informer().HasSynced() && rsInformer.Informer().HasSynced() && podInformer.Informer().HasSynced()
	}
	_, _ = dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur interface{}) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	worker.Run(ctx, controllerName, workers, c.queue, []cache.InformerSynced{c.synced}, worker.Plain(c.syncDeployment))
}

func (c *Controller) enqueue(obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) enqueueAfter(d *appsv1.Deployment, after time.Duration) {
	c.queue.AddAfter(d.Namespace+"/"+d.Name, after)
}

func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(ns).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsForOrphan returns the Deployments that may adopt rs.
func (c *Controller) deploymentsForOrphan(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	list, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil || len(rs.Labels) == 0 {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range list {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

func (c *Controller) addReplicaSet(obj interface{}) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsForOrphan(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(oldObj, curObj interface{}) {
	old, cur := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && oldRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(old.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(cur.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(old.Labels, cur.Labels) {
		for _, d := range c.deploymentsForOrphan(cur) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		c.enqueue(d)
	}
}

// deletePod matters for Recreate only: the new ReplicaSet waits until the
// old pods are gone.
func (c *Controller) deletePod(obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, metav1.GetControllerOf(rs)); d != nil &&
		d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// getReplicaSetsForDeployment returns the ReplicaSets the Deployment owns,
// adopting matching orphans and releasing owned ones that stopped matching.
func (c *Controller) getReplicaSetsForDeployment(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has an invalid selector: %w", d.Namespace, d.Name, err)
	}
	var owned []*appsv1.ReplicaSet
	var errs []error
	var adoptErr error
	adoptChecked := false
	rsClient := c.client.AppsV1().ReplicaSets(d.Namespace)
	for _, rs := range all {
		match := sel.Matches(labels.Set(rs.Labels))
		if ref := metav1.GetControllerOf(rs); ref != nil {
			switch {
			case ref.UID != d.UID:
			case match:
				owned = append(owned, rs)
			case d.DeletionTimestamp == nil:
				patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
					"ownerReferences": []map[string]any{{"$patch": "delete", "uid": d.UID}}, "uid": rs.UID}})
				if _, err := rsClient.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); ignoreGone(err) != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if !match || rs.DeletionTimestamp != nil || d.DeletionTimestamp != nil {
			continue
		}
		if !adoptChecked {
			adoptErr, adoptChecked = c.canAdopt(ctx, d), true
			if adoptErr != nil {
				errs = append(errs, adoptErr)
			}
		}
		if adoptErr != nil {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)}, "uid": rs.UID}})
		adopted, err := rsClient.Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			if ignoreGone(err) != nil {
				errs = append(errs, err)
			}
			continue
		}
		owned = append(owned, adopted)
	}
	return owned, utilerrors.NewAggregate(errs)
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

// canAdopt re-reads the Deployment: the cache may still hold one that was
// deleted or re-created under the same name.
func (c *Controller) canAdopt(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if fresh.UID != d.UID || fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment %s/%s changed or is being deleted, not adopting", d.Namespace, d.Name)
	}
	return nil
}

// podMapForDeployment groups the Deployment's pods by owning ReplicaSet.
func (c *Controller) podMapForDeployment(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	pods, err := c.podLister.Pods(d.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	m := make(map[types.UID][]*corev1.Pod, len(rsList))
	for _, rs := range rsList {
		m[rs.UID] = nil
	}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil {
			if _, ok := m[ref.UID]; ok {
				m[ref.UID] = append(m[ref.UID], p)
			}
		}
	}
	return m, nil
}

// updateStatus writes d.Status and keeps d's resourceVersion current, so
// that a second write in the same sync does not conflict with the first.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err == nil && updated != nil {
		d.ResourceVersion = updated.ResourceVersion
	}
	return err
}
