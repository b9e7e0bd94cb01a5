package nodelifecycle

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

const (
	controllerName = "node-lifecycle-controller"
	// LeaseNamespace holds one Lease per node, named after it.
	LeaseNamespace = "kube-node-lease"
	// podNodeIndex indexes pods by spec.nodeName.
	podNodeIndex = "spec.nodeName"
)

// Options tune the controller; start from DefaultOptions.
type Options struct {
	// GracePeriod: a node whose renewals have not been seen for this long
	// is unreachable.
	GracePeriod time.Duration
	// StartupGracePeriod replaces GracePeriod (when longer) for a node that
	// has never been seen with a Lease: a registering agent's first
	// renewal may lag behind its Node under load.
	StartupGracePeriod time.Duration
	// MonitorPeriod is how often health is re-judged.
	MonitorPeriod time.Duration
	// DefaultUnreachableToleration is the tolerationSeconds given to pods
	// without a toleration for the not-ready/unreachable NoExecute taints.
	// Zero evicts them as soon as the taint is seen; unlike the other
	// fields, zero is not replaced by the default.
	DefaultUnreachableToleration time.Duration
	// EvictionRate (nodes per second) and EvictionBurst bound how fast
	// nodes get the NoExecute taint that evicts their pods.
	EvictionRate  float64
	EvictionBurst int
	// UnhealthyZoneThreshold: when more than two and at least this
	// fraction (but not all) of a zone's nodes are unhealthy, or all nodes
	// everywhere are, nothing there is evicted.
	UnhealthyZoneThreshold float64
}

// DefaultOptions are corral's defaults (see the package documentation).
func DefaultOptions() Options {
	return Options{
		GracePeriod:                  5 * time.Second,
		StartupGracePeriod:           15 * time.Second,
		MonitorPeriod:                500 * time.Millisecond,
		DefaultUnreachableToleration: 2 * time.Second,
		EvictionRate:                 10,
		EvictionBurst:                1,
		UnhealthyZoneThreshold:       0.55,
	}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.GracePeriod <= 0 {
		o.GracePeriod = d.GracePeriod
	}
	if o.StartupGracePeriod <= 0 {
		o.StartupGracePeriod = d.StartupGracePeriod
	}
	if o.MonitorPeriod <= 0 {
		o.MonitorPeriod = d.MonitorPeriod
	}
	if o.DefaultUnreachableToleration < 0 {
		o.DefaultUnreachableToleration = 0
	}
	if o.EvictionRate <= 0 {
		o.EvictionRate = d.EvictionRate
	}
	if o.EvictionBurst <= 0 {
		o.EvictionBurst = d.EvictionBurst
	}
	if o.UnhealthyZoneThreshold <= 0 || o.UnhealthyZoneThreshold > 1 {
		o.UnhealthyZoneThreshold = d.UnhealthyZoneThreshold
	}
}

// Controller watches nodes, their leases and their pods.
type Controller struct {
	client   kubernetes.Interface
	clock    clock.WithTicker
	opts     Options
	recorder record.EventRecorder
	events   record.EventBroadcaster

	nodes      corelisters.NodeLister
	leases     coordlisters.LeaseLister
	podIndexer cache.Indexer
	// synced is replaced by tests, which fill the indexers by hand.
	synced func() bool

	// nodeQueue carries nodes whose conditions or taints must change (to
	// c.want); evictQueue nodes whose pods must be checked against
	// NoExecute taints, possibly after a delay.
	nodeQueue  workqueue.TypedRateLimitingInterface[string]
	evictQueue workqueue.TypedRateLimitingInterface[string]

	mu         sync.Mutex
	health     map[string]*nodeHealth
	want       map[string]desired
	disrupted  map[string]bool                 // zone → in full disruption
	taintSince map[string]map[string]time.Time // node → NoExecute taint key → first seen
	limiter    *tokenBucket
}

// NewController returns a node lifecycle controller; informers are started
// by the caller. A nil clock means the real one.
func NewController(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer,
	leaseInformer coordinformers.LeaseInformer, podInformer coreinformers.PodInformer,
	opts Options, clk clock.WithTicker) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	opts.defaults()
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:     client,
		clock:      clk,
		opts:       opts,
		events:     broadcaster,
		recorder:   broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		nodes:      nodeInformer.Lister(),
		leases:     leaseInformer.Lister(),
		podIndexer: podInformer.Informer().GetIndexer(),
		nodeQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle", Clock: clk}),
		evictQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle-eviction", Clock: clk}),
		health:     map[string]*nodeHealth{},
		want:       map[string]desired{},
		disrupted:  map[string]bool{},
		taintSince: map[string]map[string]time.Time{},
		limiter:    newTokenBucket(opts.EvictionRate, opts.EvictionBurst, clk.Now()),
	}
	c.synced = func() bool {
		return nodeInformer.Informer().HasSynced() && leaseInformer.Informer().HasSynced() && podInformer.Informer().HasSynced()
	}
	if err := addPodNodeIndex(podInformer.Informer()); err != nil {
		utilruntime.HandleError(err)
	}
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.nodeChanged(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj interface{}) { c.nodeChanged(obj.(*corev1.Node)) },
		DeleteFunc: c.nodeDeleted,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj interface{}) { c.podChanged(obj) },
	})
	// Leases need no handler: the monitor pass reads them from the cache.
	_ = leaseInformer.Informer()
	return c
}

// addPodNodeIndex adds the spec.nodeName index unless another controller
// sharing the informer already did.
func addPodNodeIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[podNodeIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{podNodeIndex: func(obj interface{}) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
}

// nodeChanged reacts to a node's own changes: pressure conditions are
// turned into taints at once (not at the next monitor pass), and
// NoExecute taints are checked against the node's pods.
func (c *Controller) nodeChanged(n *corev1.Node) {
	if !pressureMatches(n) {
		c.nodeQueue.Add(n.Name)
	}
	if hasNoExecute(n) {
		c.evictQueue.Add(n.Name)
	}
}

func (c *Controller) nodeDeleted(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	// Its pods are pod GC's business.
	c.mu.Lock()
	delete(c.health, n.Name)
	delete(c.want, n.Name)
	delete(c.taintSince, n.Name)
	c.mu.Unlock()
}

// podChanged checks a pod landing on (or changing tolerations on) a node
// with NoExecute taints.
func (c *Controller) podChanged(obj interface{}) {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
		return
	}
	if n, err := c.nodes.Get(p.Spec.NodeName); err == nil && hasNoExecute(n) {
		c.evictQueue.Add(n.Name)
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.nodeQueue.ShutDown()
	defer c.evictQueue.ShutDown()
	logger := klog.FromContext(ctx)

	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()

	if !cache.WaitForNamedCacheSync(controllerName, ctx.Done(), c.synced) {
		return
	}
	logger.Info("Starting node lifecycle controller", "grace", c.opts.GracePeriod,
		"defaultToleration", c.opts.DefaultUnreachableToleration, "evictionRate", c.opts.EvictionRate)
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.nodeQueue, c.syncNode) }, time.Second)
		go wait.UntilWithContext(ctx, func(ctx context.Context) { c.work(ctx, c.evictQueue, c.syncEvictions) }, time.Second)
	}
	// A single goroutine judges health: it owns the zone bookkeeping and
	// the token bucket's order.
	ticker := c.clock.NewTicker(c.opts.MonitorPeriod)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			logger.Info("Shutting down node lifecycle controller")
			return
		case <-ticker.C():
			if err := c.monitor(ctx); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "node health pass failed")
			}
		}
	}
}

func (c *Controller) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		if err := sync(ctx, key); err != nil {
			klog.FromContext(ctx).V(2).Info("node lifecycle sync failed, requeuing", "node", key, "err", err)
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

// tokenBucket is a token bucket on the injected clock (the monitor pass is
// its only user, so it needs no lock of its own).
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *tokenBucket) tryAccept(now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
