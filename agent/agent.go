package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/agent/runtime"
)

// Options configure an Agent.
type Options struct {
	Client kubernetes.Interface
	// NodeClients, when set, carry each node's own writes (lease, node
	// and pod status), node i on NodeClients[i%len]; the pod watch stays
	// on Client. A simulated fleet gives them separate connections, as
	// real nodes have: thousands of nodes on one HTTP/2 connection queue
	// behind that connection's single write loop in the server.
	NodeClients []kubernetes.Interface
	Clock       clock.WithTicker // default: the real clock
	Nodes       []NodeConfig

	// LeaseDuration is the Lease's leaseDurationSeconds (default 10s);
	// RenewInterval how often it is renewed (default LeaseDuration/4).
	LeaseDuration, RenewInterval time.Duration
	// StatusInterval is the node status heartbeat (default 1m). Leases
	// carry liveness; the status only refreshes conditions and reads
	// spec.podCIDR back.
	StatusInterval time.Duration
	// BackoffInitial and BackoffMax bound CrashLoopBackOff (10s, 5m).
	BackoffInitial, BackoffMax time.Duration
	// PodWorkers and NodeWorkers size the worker pools (32, or one per 4
	// nodes when more; and 16). Lease renewals get one worker per node.
	// Each real kubelet syncs pods and renews its lease on its own: a
	// fleet of simulated ones sharing a few workers would be bound by
	// their round trips, not by the control plane measured, and fall
	// behind its renew interval when the API server is slow (1,000 nodes
	// renewing every 2.5 s on 50 workers managed 166 renewals/s of 400).
	PodWorkers, NodeWorkers int
	// Recorder, when set, records pod events (Pulled, Started, Killing,
	// BackOff, Failed) and node pressure events (NodeHasDiskPressure ...);
	// simulated fleets leave it nil.
	Recorder record.EventRecorder
	// Thresholds are the hard eviction thresholds that ObserveSignals
	// judges pressure by (nil: DefaultThresholds; a zero field disables
	// its signal).
	Thresholds *Thresholds
	// PressureTransitionPeriod keeps a pressure condition True this long
	// after its threshold was last met (default 5m, as kubelet's
	// --eviction-pressure-transition-period).
	PressureTransitionPeriod time.Duration
}

// NodeConfig is one node run by the agent.
type NodeConfig struct {
	Name    string
	Runtime runtime.Runtime
	// Pods is the pods capacity (default 110).
	Pods int64
	// Zone sets topology.kubernetes.io/zone; Labels are added as given.
	Zone   string
	Labels map[string]string
	// Taints are set when the node is created (--register-with-taints).
	Taints []corev1.Taint
	// Addresses: InternalIP first; a Hostname address is added.
	Addresses []corev1.NodeAddress
	// Preparer and Prober serve real runtimes (nil for simulated nodes).
	Preparer PodPreparer
	Prober   PodProber
	// AgentPort is the port of the agent's own API (logs, exec), published
	// as status.daemonEndpoints.kubeletEndpoint (default 10250).
	AgentPort int32
	// ResyncInterval re-syncs running pods of this node (refreshing
	// configMap and secret volumes); 0 disables it (simulated nodes).
	ResyncInterval time.Duration
	// SimulatedPressure takes the node's pressure conditions from its
	// AnnotationSimPressure annotation (simulated nodes, whose host is not
	// theirs to judge).
	SimulatedPressure bool
}

// Agent runs a set of nodes.
type Agent struct {
	opts       Options
	client     kubernetes.Interface
	clock      clock.WithTicker
	nodes      map[string]*node
	thresholds Thresholds

	podInformer cache.SharedIndexInformer
	pods        workqueue.TypedRateLimitingInterface[podKey]
	leases      workqueue.TypedRateLimitingInterface[string]
	statuses    workqueue.TypedRateLimitingInterface[string]

	mu     sync.Mutex
	states map[types.UID]*podState // per-pod agent memory (back-off)
	// written: the pods as the agent's own last status writes returned
	// them, until the informer has caught up (see freshest).
	written map[types.UID]*corev1.Pod
}

// podKey names a pod on one node; the UID tells a pod from a later
// namesake, so the runtime's pod is stopped when its API object is gone.
type podKey struct {
	Node, Namespace, Name string
	UID                   types.UID
}

// New checks the options and builds the agent; Run starts it.
func New(opts Options) (*Agent, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("agent: no client")
	}
	if len(opts.Nodes) == 0 {
		return nil, fmt.Errorf("agent: no nodes")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.LeaseDuration, 10*time.Second)
	def(&opts.RenewInterval, opts.LeaseDuration/4)
	def(&opts.StatusInterval, time.Minute)
	def(&opts.BackoffInitial, 10*time.Second)
	def(&opts.BackoffMax, 5*time.Minute)
	def(&opts.PressureTransitionPeriod, 5*time.Minute)
	if opts.PodWorkers <= 0 {
		opts.PodWorkers = max(32, len(opts.Nodes)/4)
	}
	if opts.NodeWorkers <= 0 {
		opts.NodeWorkers = 16
	}
	a := &Agent{opts: opts, client: opts.Client, clock: opts.Clock, nodes: map[string]*node{}, states: map[types.UID]*podState{}, written: map[types.UID]*corev1.Pod{},
		thresholds: DefaultThresholds()}
	if opts.Thresholds != nil {
		a.thresholds = *opts.Thresholds
	}
	for i := range opts.Nodes {
		nc := opts.Nodes[i]
		if nc.Name == "" || nc.Runtime == nil {
			return nil, fmt.Errorf("agent: node %d needs a name and a runtime", i)
		}
		if _, dup := a.nodes[nc.Name]; dup {
			return nil, fmt.Errorf("agent: node %q given twice", nc.Name)
		}
		if nc.Pods <= 0 {
			nc.Pods = 110
		}
		if nc.AgentPort <= 0 {
			nc.AgentPort = 10250
		}
		n := &node{cfg: nc, rt: nc.Runtime, client: opts.Client}
		if k := len(opts.NodeClients); k > 0 {
			n.client = opts.NodeClients[len(a.nodes)%k]
		}
		n.prober, _ = nc.Runtime.(runtime.Prober)
		a.nodes[nc.Name] = n
		nc.Runtime.SetChangeHandler(func(uid types.UID) { a.enqueueUID(n, uid) })
	}
	rl := func() workqueue.TypedRateLimiter[string] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 10*time.Second)
	}
	a.leases = workqueue.NewTypedRateLimitingQueueWithConfig(rl(), workqueue.TypedRateLimitingQueueConfig[string]{Clock: a.clock})
	a.statuses = workqueue.NewTypedRateLimitingQueueWithConfig(rl(), workqueue.TypedRateLimitingQueueConfig[string]{Clock: a.clock})
	a.pods = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[podKey](100*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[podKey]{Clock: a.clock})
	a.podInformer = a.newPodInformer()
	return a, nil
}

// newPodInformer watches assigned pods: only this node's with one node,
// else all assigned pods, filtered by the node set in the handlers (one
// watch for thousands of simulated nodes instead of one each).
func (a *Agent) newPodInformer() cache.SharedIndexInformer {
	selector := "spec.nodeName!="
	if len(a.nodes) == 1 {
		for name := range a.nodes {
			selector = "spec.nodeName=" + name
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = selector }))
	inf := f.Core().V1().Pods().Informer()
	_ = inf.SetTransform(func(obj interface{}) (interface{}, error) {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetManagedFields(nil) // not needed here; a good part of each pod's memory
		}
		return obj, nil
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { a.enqueuePod(obj) },
		UpdateFunc: func(_, obj interface{}) { a.enqueuePod(obj) },
		DeleteFunc: func(obj interface{}) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			a.enqueuePod(obj)
		},
	})
	return inf
}

func (a *Agent) enqueuePod(obj interface{}) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if _, mine := a.nodes[pod.Spec.NodeName]; mine {
		a.pods.Add(podKey{Node: pod.Spec.NodeName, Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID})
	}
}

func (a *Agent) enqueueUID(n *node, uid types.UID) {
	st, err := n.rt.PodStatus(context.Background(), uid)
	if err != nil || st == nil {
		return
	}
	a.pods.Add(podKey{Node: n.cfg.Name, Namespace: st.Namespace, Name: st.Name, UID: uid})
}

// Run registers the nodes, keeps their leases and status fresh and runs
// their pods until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	var wg sync.WaitGroup
	defer func() {
		a.pods.ShutDown()
		a.leases.ShutDown()
		a.statuses.ShutDown()
		wg.Wait()
	}()
	logger := klog.FromContext(ctx)

	for name := range a.nodes {
		a.statuses.Add(name) // the first status sync registers the node
	}
	run := func(n int, f func()) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
	}
	run(a.opts.NodeWorkers, func() { processQueue(ctx, a.statuses, a.syncNodeStatus) })
	run(max(a.opts.NodeWorkers, len(a.nodes)), func() { processQueue(ctx, a.leases, a.renewLease) })

	go a.podInformer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), a.podInformer.HasSynced) {
		return ctx.Err()
	}
	// Adopt what the runtimes already run; pods the API no longer has are
	// stopped by their first sync.
	for name, n := range a.nodes {
		running, err := n.rt.ListPods(ctx)
		if err != nil {
			logger.Error(err, "listing runtime pods", "node", name)
			continue
		}
		for _, p := range running {
			a.pods.Add(podKey{Node: name, Namespace: p.Namespace, Name: p.Name, UID: p.UID})
		}
	}
	run(a.opts.PodWorkers, func() { processQueue(ctx, a.pods, a.syncPod) })
	logger.Info("node agent running", "nodes", len(a.nodes))
	<-ctx.Done()
	return nil
}

// processQueue runs sync for each item; an error retries with back-off.
func processQueue[T comparable](ctx context.Context, q workqueue.TypedRateLimitingInterface[T], sync func(context.Context, T) error) {
	for {
		item, shutdown := q.Get()
		if shutdown {
			return
		}
		if err := sync(ctx, item); err != nil {
			if ctx.Err() == nil {
				klog.FromContext(ctx).V(2).Info("sync failed, retrying", "item", item, "err", err)
			}
			q.AddRateLimited(item)
		} else {
			q.Forget(item)
		}
		q.Done(item)
	}
}

// Resync syncs one pod of a node soon (a probe result changed).
func (a *Agent) Resync(nodeName string, uid types.UID) {
	if n := a.nodes[nodeName]; n != nil {
		a.enqueueUID(n, uid)
	}
}

// RuntimePod is what a node's runtime knows of the named pod (for the
// agent's API: logs, exec), or nil when the node does not run it.
func (a *Agent) RuntimePod(ctx context.Context, nodeName, namespace, name string) (*runtime.PodStatus, error) {
	n := a.nodes[nodeName]
	if n == nil {
		return nil, nil
	}
	obj, ok, err := a.podInformer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != nodeName {
		return nil, nil
	}
	return n.rt.PodStatus(ctx, pod.UID)
}
