package podgc

import (
	"context"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/controllers/disruption"
)

const controllerName = "pod-garbage-collector"

// Options tune the collector; zero values mean the defaults.
type Options struct {
	// TerminatedPodThreshold is how many terminated pods may exist before
	// the oldest are deleted; negative disables that collection.
	TerminatedPodThreshold int
	// Period between passes.
	Period time.Duration
	// Quarantine is how long a node must be missing from the cache before
	// its pods are collected.
	Quarantine time.Duration
}

// DefaultOptions are corral's defaults.
func DefaultOptions() Options {
	return Options{TerminatedPodThreshold: 12500, Period: 5 * time.Second, Quarantine: 20 * time.Second}
}

func (o *Options) defaults() {
	d := DefaultOptions()
	if o.TerminatedPodThreshold == 0 {
		o.TerminatedPodThreshold = d.TerminatedPodThreshold
	}
	if o.Period <= 0 {
		o.Period = d.Period
	}
	if o.Quarantine <= 0 {
		o.Quarantine = d.Quarantine
	}
}

// Controller is the pod garbage collector.
type Controller struct {
	client kubernetes.Interface
	clock  clock.WithTicker
	opts   Options
	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	// synced is replaced by tests, which fill the indexers by hand.
	synced func() bool

	mu      sync.Mutex
	workers int
	// missingSince: nodes that pods are bound to but the cache lacks,
	// with when that was first seen.
	missingSince map[string]time.Time
}

// NewController returns a pod GC; the informers are started by the caller.
// A nil clock means the real one.
func NewController(client kubernetes.Interface, podInformer coreinformers.PodInformer, nodeInformer coreinformers.NodeInformer,
	opts Options, clk clock.WithTicker) *Controller {
	if clk == nil {
		clk = clock.RealClock{}
	}
	opts.defaults()
	return &Controller{
		client: client, clock: clk, opts: opts,
		pods: podInformer.Lister(), nodes: nodeInformer.Lister(),
		synced: func() bool {
			return podInformer.Informer().HasSynced() && nodeInformer.Informer().HasSynced()
		},
		workers:      1,
		missingSince: map[string]time.Time{},
	}
}

// Run collects every Period until ctx ends; workers bounds concurrent
// deletes.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer utilruntime.HandleCrash()
	if !cache.WaitForNamedCacheSync(controllerName, ctx.Done(), c.synced) {
		return
	}
	c.mu.Lock()
	c.workers = max(workers, 1)
	c.mu.Unlock()
	ticker := c.clock.NewTicker(c.opts.Period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			if err := c.gc(ctx); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "pod GC pass failed")
			}
		}
	}
}

// gc is one pass.
func (c *Controller) gc(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	var terminated, doomed []*corev1.Pod
	orphans := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			terminated = append(terminated, p)
		}
		if p.Spec.NodeName == "" {
			if p.DeletionTimestamp != nil {
				doomed = append(doomed, p) // never scheduled: no agent will finish it
			}
			continue
		}
		n, err := c.nodes.Get(p.Spec.NodeName)
		switch {
		case apierrors.IsNotFound(err):
			orphans[p.Spec.NodeName] = append(orphans[p.Spec.NodeName], p)
		case err == nil && p.DeletionTimestamp != nil && outOfService(n):
			doomed = append(doomed, p)
		}
	}
	// Pods no agent will finish are marked Failed first, as upstream, so
	// that a Job waiting for their end (podReplacementPolicy Failed, a
	// podFailurePolicy) sees one; orphans also as disrupted.
	c.deleteAll(ctx, c.excessTerminated(terminated), "terminated pods above the threshold", nil)
	c.deleteAll(ctx, doomed, "terminating pod without an agent", &disruption.Target{Fail: true})
	c.deleteAll(ctx, c.confirmedOrphans(ctx, orphans), "pod of a deleted node",
		&disruption.Target{Reason: disruption.ReasonDeletionByPodGC, Message: "PodGC: node no longer exists", Fail: true})
	return nil
}

// excessTerminated returns the oldest terminated pods beyond the threshold.
func (c *Controller) excessTerminated(pods []*corev1.Pod) []*corev1.Pod {
	n := len(pods) - c.opts.TerminatedPodThreshold
	if c.opts.TerminatedPodThreshold < 0 || n <= 0 {
		return nil
	}
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i].CreationTimestamp, pods[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	return pods[:n]
}

// confirmedOrphans returns the pods of nodes missing for the whole
// quarantine whose absence a live GET confirms.
func (c *Controller) confirmedOrphans(ctx context.Context, orphans map[string][]*corev1.Pod) []*corev1.Pod {
	now := c.clock.Now()
	for name := range c.missingSince {
		if _, still := orphans[name]; !still {
			delete(c.missingSince, name) // came back, or its pods went
		}
	}
	var out []*corev1.Pod
	for name, pods := range orphans {
		since, ok := c.missingSince[name]
		if !ok {
			c.missingSince[name] = now
			since = now
		}
		if now.Sub(since) < c.opts.Quarantine {
			continue
		}
		_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, pods...)
			delete(c.missingSince, name)
		case err == nil:
			delete(c.missingSince, name) // the cache lags: it exists
		default:
			klog.FromContext(ctx).V(2).Info("cannot confirm node deletion", "node", name, "err", err)
		}
	}
	return out
}

func outOfService(n *corev1.Node) bool {
	tainted := false
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeOutOfService && t.Effect == corev1.TaintEffectNoExecute {
			tainted = true
		}
	}
	if !tainted {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status != corev1.ConditionTrue
		}
	}
	return true
}

// deleteAll force-deletes pods, c.workers at a time, marking them with
// mark first when it is set.
func (c *Controller) deleteAll(ctx context.Context, pods []*corev1.Pod, why string, mark *disruption.Target) {
	workqueue.ParallelizeUntil(ctx, c.workers, len(pods), func(i int) {
		p := pods[i]
		if mark != nil {
			if err := disruption.MarkTarget(ctx, c.client, p, *mark, c.clock.Now()); err != nil {
				utilruntime.HandleErrorWithContext(ctx, err, "pod GC: marking pod failed", "pod", klog.KObj(p))
				return
			}
		}
		opts := metav1.DeleteOptions{GracePeriodSeconds: new(int64)}
		if uid := p.UID; uid != "" {
			opts.Preconditions = &metav1.Preconditions{UID: &uid}
		}
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			utilruntime.HandleErrorWithContext(ctx, err, "pod GC: deleting pod", "pod", klog.KObj(p))
			return
		}
		klog.FromContext(ctx).V(2).Info("pod GC deleted pod", "pod", klog.KObj(p), "node", p.Spec.NodeName, "why", why)
	})
}
