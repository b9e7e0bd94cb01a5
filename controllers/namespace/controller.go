package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Controller empties and finalizes terminating namespaces.
type Controller struct {
	client         kubernetes.Interface
	metadataClient metadata.Interface
	discovery      discovery.DiscoveryInterface

	lister corelisters.NamespaceLister
	synced cache.InformerSynced

	// limiter is shared with the queue so that a requeue for remaining
	// content can take the larger of the backoff and the grace estimate.
	limiter workqueue.TypedRateLimiter[string]
	queue   workqueue.TypedRateLimitingInterface[string]
	clock   clock.PassiveClock
}

// NewController returns a namespace controller fed by nsInformer. The
// caller starts the informer factory.
func NewController(client kubernetes.Interface, metadataClient metadata.Interface, discovery discovery.DiscoveryInterface, nsInformer coreinformers.NamespaceInformer) *Controller {
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Minute),
	)
	c := &Controller{
		client:         client,
		metadataClient: metadataClient,
		discovery:      discovery,
		lister:         nsInformer.Lister(),
		synced:         nsInformer.Informer().HasSynced,
		limiter:        limiter,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		clock: clock.RealClock{},
	}
	_, _ = nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj) },
	})
	return c
}

func (c *Controller) enqueue(obj interface{}) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(ns.Name)
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting namespace controller")
	if !cache.WaitForNamedCacheSync("namespace", ctx.Done(), c.synced) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
	logger.Info("Shutting down namespace controller")
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)

	err := c.sync(ctx, key)
	var remaining *contentRemainingError
	switch {
	case err == nil:
		c.queue.Forget(key)
	case errors.As(err, &remaining):
		// Not a failure: objects are going away (pods in their grace
		// period, finalizers). Wait for the longer of the backoff and the
		// time the last known grace period ends.
		delay := c.limiter.When(key)
		if remaining.estimate > delay {
			delay = remaining.estimate
		}
		klog.FromContext(ctx).V(4).Info("Namespace content remaining", "namespace", key, "retryAfter", delay, "detail", err)
		c.queue.AddAfter(key, delay)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing namespace failed", "namespace", key)
		c.queue.AddRateLimited(key)
	}
	return true
}

// sync drives one terminating namespace a step towards removal.
func (c *Controller) sync(ctx context.Context, name string) error {
	cached, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if cached.DeletionTimestamp == nil {
		return nil
	}
	ns := cached.DeepCopy()

	if !hasFinalizer(ns, corev1.FinalizerKubernetes) {
		// Our part is done; if nothing else holds the namespace, the
		// second delete may not have happened yet (e.g. we crashed).
		if len(ns.Spec.Finalizers) == 0 && len(ns.Finalizers) == 0 {
			return c.deleteNamespace(ctx, ns)
		}
		return nil
	}

	result := c.deleteAllContent(ctx, ns)
	if err := c.updateConditions(ctx, ns, result); err != nil {
		// Conditions are informative only; do not hold up deletion.
		klog.FromContext(ctx).V(2).Info("Could not update namespace conditions", "namespace", name, "err", err)
	}
	if err := result.err(); err != nil {
		return err
	}
	if n := result.total(); n > 0 {
		return &contentRemainingError{count: n, estimate: result.estimate}
	}

	ns, err = c.finalize(ctx, ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalizing namespace %s: %w", name, err)
	}
	if len(ns.Spec.Finalizers) > 0 || len(ns.Finalizers) > 0 {
		// Someone else still holds it; their removal brings it back here.
		return nil
	}
	return c.deleteNamespace(ctx, ns)
}

// finalize removes "kubernetes" from spec.finalizers, retrying on conflict
// with a fresh copy.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	var out *corev1.Namespace
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		updated := ns.DeepCopy()
		updated.Spec.Finalizers = nil
		for _, f := range ns.Spec.Finalizers {
			if f != corev1.FinalizerKubernetes {
				updated.Spec.Finalizers = append(updated.Spec.Finalizers, f)
			}
		}
		var err error
		out, err = c.client.CoreV1().Namespaces().Finalize(ctx, updated, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, getErr := c.client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			if getErr != nil {
				return getErr
			}
			if fresh.UID != ns.UID {
				return apierrors.NewNotFound(corev1.Resource("namespaces"), ns.Name)
			}
			ns = fresh
		}
		return err
	})
	return out, err
}

// deleteNamespace issues the second delete; the UID precondition keeps a
// namespace re-created under the same name safe.
func (c *Controller) deleteNamespace(ctx context.Context, ns *corev1.Namespace) error {
	uid := ns.UID
	err := c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func hasFinalizer(ns *corev1.Namespace, f corev1.FinalizerName) bool {
	for _, x := range ns.Spec.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// contentRemainingError says the namespace still holds objects that are
// going away; estimate is how long until the last known grace period ends.
type contentRemainingError struct {
	count    int
	estimate time.Duration
}

func (e *contentRemainingError) Error() string {
	return fmt.Sprintf("%d objects remaining, estimated %s", e.count, e.estimate)
}
