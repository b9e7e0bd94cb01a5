package garbagecollector

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// DiscoveryResyncPeriod is how often the set of watched resources is
// refreshed from discovery.
const DiscoveryResyncPeriod = 30 * time.Second

// initialSyncTimeout bounds the wait for the first list of every resource:
// one resource that cannot be listed must not stop collection of the rest.
const initialSyncTimeout = 30 * time.Second

// objectRef identifies one object; the UID keeps a re-created object of the
// same name apart from the one that was queued.
type objectRef struct {
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
	UID       types.UID
}

// Controller is the garbage collector.
type Controller struct {
	metadataClient metadata.Interface
	discovery      discovery.DiscoveryInterface
	clock          clock.WithTicker
	queue          workqueue.TypedRateLimitingInterface[objectRef]

	mu       sync.RWMutex
	monitors map[schema.GroupResource]*monitor
	kinds    map[schema.GroupVersionKind]kindInfo
	runCtx   context.Context // set by Run; informers start only then

	// synced is monitorsSynced, replaceable in tests with hand-filled caches.
	synced func() bool
}

// NewController returns a garbage collector. The clock drives the work
// queue's delays and the discovery refresh.
func NewController(metadataClient metadata.Interface, discovery discovery.DiscoveryInterface, clk clock.WithTicker) (*Controller, error) {
	if metadataClient == nil || discovery == nil {
		return nil, errors.New("garbagecollector: metadata and discovery clients are required")
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	c := &Controller{
		metadataClient: metadataClient,
		discovery:      discovery,
		clock:          clk,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[objectRef](5*time.Millisecond, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[objectRef]{Name: "garbage_collector", Clock: clk}),
		monitors: map[schema.GroupResource]*monitor{},
		kinds:    map[schema.GroupVersionKind]kindInfo{},
	}
	c.synced = c.monitorsSynced
	return c, nil
}

// Run watches resources, runs workers and refreshes discovery until ctx is
// done.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	defer c.stopMonitors()
	logger := klog.FromContext(ctx)
	logger.Info("Starting garbage collector")

	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
	if err := c.resyncMonitors(ctx); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Garbage collector discovery failed")
	}
	syncCtx, cancel := context.WithTimeout(ctx, initialSyncTimeout)
	if !cache.WaitForCacheSync(syncCtx.Done(), func() bool { return c.synced() }) && ctx.Err() == nil {
		logger.Info("Garbage collector starting before all resources are listed")
	}
	cancel()

	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	ticker := c.clock.NewTicker(DiscoveryResyncPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("Shutting down garbage collector")
			return
		case <-ticker.C():
			if err := c.resyncMonitors(ctx); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "Garbage collector discovery failed")
			}
		}
	}
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	ref, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(ref)

	err := c.sync(ctx, ref)
	switch {
	case err == nil:
		c.queue.Forget(ref)
	case errors.Is(err, errWaiting):
		// Expected: dependents are still going away. Their events bring
		// the owner back sooner; the backoff is the safety net.
		c.queue.AddRateLimited(ref)
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "Garbage collector sync failed", "object", ref)
		c.queue.AddRateLimited(ref)
	}
	return true
}

func (c *Controller) onAdd(gvr schema.GroupVersionResource, obj interface{}) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	if len(m.GetOwnerReferences()) > 0 || m.GetDeletionTimestamp() != nil {
		c.queue.Add(refFor(gvr, m))
	}
}

func (c *Controller) onUpdate(gvr schema.GroupVersionResource, oldObj, obj interface{}) {
	old, err1 := meta.Accessor(oldObj)
	cur, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return
	}
	if old.GetUID() != cur.GetUID() {
		// Deleted and re-created between two lists.
		c.onDelete(gvr, oldObj)
		c.onAdd(gvr, obj)
		return
	}
	if len(cur.GetOwnerReferences()) > 0 || cur.GetDeletionTimestamp() != nil {
		c.queue.Add(refFor(gvr, cur))
	}
	if !reflect.DeepEqual(old.GetOwnerReferences(), cur.GetOwnerReferences()) {
		// A foreground owner may have stopped waiting for this object.
		c.enqueueOwners(old)
	}
}

func (c *Controller) onDelete(gvr schema.GroupVersionResource, obj interface{}) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	// Its dependents may now be dangling ...
	c.queue.Add(refFor(gvr, m))
	// ... and an owner deleting in foreground may have been waiting for it.
	c.enqueueOwners(m)
}

func (c *Controller) enqueueOwners(dep metav1.Object) {
	for _, r := range dep.GetOwnerReferences() {
		info, ok := c.resolve(r)
		if !ok {
			continue
		}
		ns := ""
		if info.namespaced {
			ns = dep.GetNamespace()
		}
		c.queue.Add(objectRef{Resource: info.gvr, Namespace: ns, Name: r.Name, UID: r.UID})
	}
}
