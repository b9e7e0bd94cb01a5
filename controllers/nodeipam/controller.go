package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

const controllerName = "node-ipam-controller"

// Defaults of the cluster CIDR and the per-node mask size.
const (
	DefaultClusterCIDR  = "10.42.0.0/16"
	DefaultNodeMaskSize = 24
)

// Controller assigns pod CIDRs to nodes.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	events   record.EventBroadcaster
	nodes    corelisters.NodeLister
	// synced is replaced by tests, which fill the indexer by hand.
	synced func() bool
	queue  workqueue.TypedRateLimitingInterface[string]

	mu  sync.Mutex
	set *cidrSet
}

// NewController returns a node IPAM controller for clusterCIDR split into
// blocks of maskSize bits (nil and 0 mean the defaults).
func NewController(client kubernetes.Interface, nodeInformer coreinformers.NodeInformer, clusterCIDR *net.IPNet, maskSize int) (*Controller, error) {
	if clusterCIDR == nil {
		_, clusterCIDR, _ = net.ParseCIDR(DefaultClusterCIDR)
	}
	if maskSize == 0 {
		maskSize = DefaultNodeMaskSize
	}
	set, err := newCIDRSet(clusterCIDR, maskSize)
	if err != nil {
		return nil, err
	}
	broadcaster := record.NewBroadcaster()
	c := &Controller{
		client:   client,
		events:   broadcaster,
		recorder: broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: controllerName}),
		nodes:    nodeInformer.Lister(),
		synced:   nodeInformer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
		set: set,
	}
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.nodeChanged(obj.(*corev1.Node)) },
		UpdateFunc: func(_, obj interface{}) { c.nodeChanged(obj.(*corev1.Node)) },
		DeleteFunc: c.nodeDeleted,
	})
	return c, nil
}

// nodeChanged records a CIDR at once (so that no other node is handed it
// meanwhile) or queues the node for one.
func (c *Controller) nodeChanged(n *corev1.Node) {
	if n.Spec.PodCIDR != "" {
		c.mu.Lock()
		c.set.occupy(n.Name, n.Spec.PodCIDR)
		c.mu.Unlock()
		return
	}
	c.queue.Add(n.Name)
}

func (c *Controller) nodeDeleted(obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		c.mu.Lock()
		c.set.release(n.Name)
		c.mu.Unlock()
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	c.events.StartStructuredLogging(3)
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer c.events.Shutdown()
	if !cache.WaitForNamedCacheSync(controllerName, ctx.Done(), c.synced) {
		return
	}
	if err := c.rebuild(); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "listing nodes")
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, c.worker, time.Second)
	}
	<-ctx.Done()
}

// rebuild marks the CIDRs of all known nodes used before anything is
// allocated.
func (c *Controller) rebuild() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range nodes {
		if n.Spec.PodCIDR != "" && !c.set.occupy(n.Name, n.Spec.PodCIDR) {
			klog.Background().Info("node pod CIDR is outside the cluster CIDR or taken by another node",
				"node", n.Name, "podCIDR", n.Spec.PodCIDR)
		}
	}
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		if err := c.sync(ctx, key); err != nil {
			klog.FromContext(ctx).V(2).Info("node IPAM sync failed, requeuing", "node", key, "err", err)
			c.queue.AddRateLimited(key)
		} else {
			c.queue.Forget(key)
		}
		c.queue.Done(key)
	}
}

// sync gives a node without a pod CIDR one.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if node.Spec.PodCIDR != "" {
		c.set.occupy(name, node.Spec.PodCIDR)
		c.mu.Unlock()
		return nil
	}
	cidr, ok := c.set.allocate(name)
	c.mu.Unlock()
	if !ok {
		c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRNotAvailable", "Node %s: no pod CIDR left in the cluster CIDR", name)
		return fmt.Errorf("no pod CIDR left for node %s", name)
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	switch {
	case err == nil:
		klog.FromContext(ctx).V(2).Info("assigned pod CIDR", "node", name, "podCIDR", cidr)
		c.recorder.Eventf(node, corev1.EventTypeNormal, "CIDRAssignmentSucceeded", "Node %s: pod CIDR %s", name, cidr)
		return nil
	case apierrors.IsNotFound(err):
		c.release(name)
		return nil
	case apierrors.IsInvalid(err):
		// Someone else set a different one first (podCIDR is set-once):
		// give ours back; the next sync records theirs.
		c.release(name)
		return err
	default:
		// Kept for the node: the retry patches the same block.
		return fmt.Errorf("patching pod CIDR of node %s: %w", name, err)
	}
}

func (c *Controller) release(name string) {
	c.mu.Lock()
	c.set.release(name)
	c.mu.Unlock()
}
