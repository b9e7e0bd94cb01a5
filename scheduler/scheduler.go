package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/controllers/disruption"
)

// DefaultSchedulerName is the schedulerName of pods this scheduler places.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Options configure a Scheduler; the zero value is upstream's behaviour.
type Options struct {
	SchedulerName string   // default "default-scheduler"; pods with "" are ours too
	Profile       *Profile // default DefaultProfile()
	Clock         clock.WithTicker
	// BindConcurrency bounds the API calls in flight (bindings, and the
	// PodScheduled=False reports and preemption deletes of failed
	// attempts): the round trip is the slow part, so decisions run ahead
	// while earlier calls complete.
	BindConcurrency   int // default 64
	DisablePreemption bool
	// Recorder receives events; default a broadcaster writing core/v1
	// Events through the client (what `describe pod` shows).
	Recorder record.EventRecorder
}

// Scheduler is the loop around Schedule: it feeds the queue and the cache
// from informers, asks the profile for a decision and binds.
type Scheduler struct {
	client      kubernetes.Interface
	factory     informers.SharedInformerFactory
	name        string
	profile     *Profile
	clock       clock.WithTicker
	preempt     bool
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster

	Queue *Queue
	Cache *Cache

	snapshot  *Snapshot // owned by the scheduling goroutine
	nextStart int
	apiSlots  chan struct{}
	apiCalls  sync.WaitGroup
	synced    []cache.InformerSynced
}

// Filters woken by each kind of cluster change. A deleted pod or a new
// node can help any pod; an added pod only those waiting for a peer.
var (
	wakeOnAssignedPodAdd = map[string]bool{"InterPodAffinity": true, "PodTopologySpread": true}
	wakeOnAll            map[string]bool // nil: every unschedulable pod
	wakeOnVolumeChange   = map[string]bool{"VolumeBinding": true}
)

// New wires a scheduler to the informers of factory. Start the factory
// (or let Run do it) before or after; Run waits for the caches.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, opts Options) *Scheduler {
	s := &Scheduler{
		client:   client,
		factory:  factory,
		name:     opts.SchedulerName,
		profile:  opts.Profile,
		clock:    opts.Clock,
		preempt:  !opts.DisablePreemption,
		recorder: opts.Recorder,
		Cache:    NewCache(),
		snapshot: newSnapshot(nil),
	}
	if s.name == "" {
		s.name = DefaultSchedulerName
	}
	if s.profile == nil {
		s.profile = DefaultProfile()
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	n := opts.BindConcurrency
	if n <= 0 {
		n = 64
	}
	s.apiSlots = make(chan struct{}, n)
	s.Queue = NewQueue(s.clock)
	if s.recorder == nil {
		s.broadcaster = record.NewBroadcaster()
		s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: s.name})
	}

	pods := factory.Core().V1().Pods().Informer()
	nodes := factory.Core().V1().Nodes().Informer()
	nss := factory.Core().V1().Namespaces().Informer()
	// Wait on the registrations, not the informers: an informer is synced
	// when its store is, but our handlers may not have seen every object.
	podsReg, _ := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPod(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, obj any) { s.onPod(old.(*corev1.Pod), obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				s.onPodDelete(pod)
			}
		},
	})
	nodesReg, _ := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.Cache.AddNode(obj.(*corev1.Node))
			s.Queue.MoveOnEvent(wakeOnAll)
		},
		UpdateFunc: func(old, obj any) { s.onNodeUpdate(old.(*corev1.Node), obj.(*corev1.Node)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				s.Cache.RemoveNode(n.Name)
			}
		},
	})
	nssReg, _ := nss.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { ns := obj.(*corev1.Namespace); s.Cache.SetNamespace(ns.Name, ns.Labels, false) },
		UpdateFunc: func(_, obj any) { ns := obj.(*corev1.Namespace); s.Cache.SetNamespace(ns.Name, ns.Labels, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if ns, ok := obj.(*corev1.Namespace); ok {
				s.Cache.SetNamespace(ns.Name, nil, true)
			}
		},
	})
	vols := listerVolumes{
		claims:  factory.Core().V1().PersistentVolumeClaims().Lister(),
		volumes: factory.Core().V1().PersistentVolumes().Lister(),
		classes: factory.Storage().V1().StorageClasses().Lister(),
	}
	s.snapshot.Volumes = vols
	wakeVolumes := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.Queue.MoveOnEvent(wakeOnVolumeChange) },
		UpdateFunc: func(_, _ any) { s.Queue.MoveOnEvent(wakeOnVolumeChange) },
	}
	s.synced = []cache.InformerSynced{podsReg.HasSynced, nodesReg.HasSynced, nssReg.HasSynced}
	for _, inf := range []cache.SharedIndexInformer{factory.Core().V1().PersistentVolumeClaims().Informer(),
		factory.Core().V1().PersistentVolumes().Informer(), factory.Storage().V1().StorageClasses().Informer()} {
		reg, _ := inf.AddEventHandler(wakeVolumes)
		s.synced = append(s.synced, reg.HasSynced)
	}
	return s
}

// listerVolumes is Volumes over the informers' caches.
type listerVolumes struct {
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

func (v listerVolumes) Claim(namespace, name string) *corev1.PersistentVolumeClaim {
	c, _ := v.claims.PersistentVolumeClaims(namespace).Get(name)
	return c
}

func (v listerVolumes) Volume(name string) *corev1.PersistentVolume {
	pv, _ := v.volumes.Get(name)
	return pv
}

func (v listerVolumes) Class(name string) *storagev1.StorageClass {
	sc, _ := v.classes.Get(name)
	return sc
}

func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == s.name
}

func (s *Scheduler) onPod(old, pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		if old != nil && old.Spec.NodeName == "" {
			s.Queue.Delete(pod) // just bound, by us or by someone else
		}
		s.Cache.UpdatePod(pod)
		switch {
		case isTerminal(pod) && (old == nil || !isTerminal(old)):
			s.Queue.MoveOnEvent(wakeOnAll) // its resources are free
		case old == nil || old.Spec.NodeName == "":
			s.Queue.MoveOnEvent(wakeOnAssignedPodAdd)
		case !equality.Semantic.DeepEqual(old.Labels, pod.Labels):
			s.Queue.MoveOnEvent(wakeOnAssignedPodAdd)
		}
		return
	}
	if !s.responsible(pod) || isTerminal(pod) || pod.DeletionTimestamp != nil {
		s.Queue.Delete(pod)
		s.Cache.ClearNomination(pod.Namespace + "/" + pod.Name)
		return
	}
	s.Queue.Add(pod)
	if node := pod.Status.NominatedNodeName; node != "" {
		s.Cache.Nominate(NewPodInfo(pod), node)
	} else if old != nil && old.Status.NominatedNodeName != "" {
		s.Cache.ClearNomination(pod.Namespace + "/" + pod.Name)
	}
}

func (s *Scheduler) onPodDelete(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		s.Queue.Delete(pod)
		s.Cache.ClearNomination(pod.Namespace + "/" + pod.Name)
		return
	}
	s.Cache.RemovePod(pod)
	s.Queue.MoveOnEvent(wakeOnAll)
}

// onNodeUpdate ignores heartbeats: only what filters read changes the cache.
func (s *Scheduler) onNodeUpdate(old, node *corev1.Node) {
	wake := map[string]bool{}
	if old.Spec.Unschedulable != node.Spec.Unschedulable {
		wake["NodeUnschedulable"] = true
	}
	if !equality.Semantic.DeepEqual(old.Labels, node.Labels) {
		wake["NodeAffinity"], wake["PodTopologySpread"], wake["InterPodAffinity"] = true, true, true
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) {
		wake["TaintToleration"] = true
	}
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		wake["NodeResourcesFit"] = true
	}
	if len(wake) == 0 {
		return
	}
	s.Cache.UpdateNode(node)
	s.Queue.MoveOnEvent(wake)
}

// Run schedules until ctx ends, then waits for bindings in flight.
func (s *Scheduler) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	if s.broadcaster != nil {
		s.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
		defer s.broadcaster.Shutdown()
	}
	s.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	logger.Info("scheduler started", "name", s.name)
	go s.Queue.Run(ctx.Done())
	for {
		p := s.Queue.Pop()
		if p == nil {
			break
		}
		s.scheduleOne(ctx, p)
	}
	s.apiCalls.Wait()
}

// inFlight runs the API calls that end a pod's attempt off the scheduling
// goroutine, at most BindConcurrency at once. The pod stays in flight in
// the queue until fn hands it back, so events meanwhile are not lost.
func (s *Scheduler) inFlight(fn func()) {
	s.apiSlots <- struct{}{}
	s.apiCalls.Add(1)
	go func() {
		defer s.apiCalls.Done()
		defer func() { <-s.apiSlots }()
		fn()
	}()
}

// A pod that still has scheduling gates is parked, as upstream: no
// attempt, no event, PodScheduled=False with reason SchedulingGated. No
// cluster event wakes it; the update that removes the last gate changes
// the spec and requeues it.
const schedulingGatesFilter = "SchedulingGates"

var gatedFilters = map[string]bool{schedulingGatesFilter: true}

// scheduleOne decides for one pod and hands the API calls to a goroutine.
func (s *Scheduler) scheduleOne(ctx context.Context, p *QueuedPod) {
	pod := p.Info.Pod
	if len(pod.Spec.SchedulingGates) > 0 {
		s.inFlight(func() {
			s.setNotScheduled(ctx, pod, corev1.PodReasonSchedulingGated, "Scheduling is blocked due to non-empty scheduling gates", "")
			s.Queue.AddUnschedulable(p, gatedFilters)
		})
		return
	}
	s.Cache.UpdateSnapshot(s.snapshot)
	d := s.profile.Schedule(p.Info, s.snapshot, s.nextStart)
	if n := len(s.snapshot.Nodes); n > 0 {
		s.nextStart = (s.nextStart + d.Evaluated) % n
	}
	if !d.Scheduled() {
		var pr Preemption
		if s.preempt && d.NumAllNodes > 0 && d.PreFilterMsg == "" {
			pr = s.profile.Preempt(p.Info, s.snapshot, &d)
			if pr.Node == "" {
				d.PostFilterMsg = pr.Message
			}
		}
		msg, failed := d.Message(), d.FailedFilters()
		if pr.Node != "" {
			// The room being freed is this pod's from now on, not only
			// once the API shows the nomination.
			s.Cache.Nominate(p.Info, pr.Node)
		}
		s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
		s.inFlight(func() {
			if pr.Node != "" {
				s.evict(ctx, pod, pr)
			}
			s.setNotScheduled(ctx, pod, corev1.PodReasonUnschedulable, msg, pr.Node)
			s.Queue.AddUnschedulable(p, failed)
		})
		return
	}
	if err := s.Cache.AssumePod(p.Info, d.Node); err != nil {
		// Already placed (the informer saw it bound meanwhile): nothing to do.
		s.Queue.Done(p)
		return
	}
	node := d.Node // not d: the closure would keep the per-node failures alive
	s.inFlight(func() { s.bind(ctx, p, node) })
}

func (s *Scheduler) bind(ctx context.Context, p *QueuedPod, node string) {
	pod := p.Info.Pod
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err != nil {
		s.Cache.ForgetPod(p.Info)
		if apierrors.IsNotFound(err) {
			s.Queue.Done(p) // gone; the informer will tell the rest
			return
		}
		klog.FromContext(ctx).Error(err, "binding failed", "pod", p.Info.Key, "node", node)
		s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: "+err.Error())
		s.Queue.AddUnschedulable(p, nil) // backoff, then retry
		return
	}
	s.Cache.FinishBinding(p.Info)
	s.Queue.Done(p)
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s to %s", p.Info.Key, node)
}

// evict deletes preemption victims; the preemptor waits in the queue,
// nominated to the node, and is woken by the deletions.
func (s *Scheduler) evict(ctx context.Context, preemptor *corev1.Pod, pr Preemption) {
	for _, v := range pr.Victims {
		s.recorder.Eventf(v, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", preemptor.UID, pr.Node)
		t := disruption.Target{Reason: disruption.ReasonPreemptionByScheduler, Message: s.name + ": preempting to accommodate a higher priority pod"}
		if err := disruption.MarkTarget(ctx, s.client, v, t, s.clock.Now()); err != nil {
			klog.FromContext(ctx).Error(err, "preemption: marking victim", "pod", v.Namespace+"/"+v.Name)
		}
		uid := v.UID
		err := s.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.FromContext(ctx).Error(err, "preemption: deleting victim", "pod", v.Namespace+"/"+v.Name)
		}
	}
}

// setNotScheduled records PodScheduled=False with reason (and the
// nominated node) with a strategic merge patch of the status: it touches
// only that condition, so it never conflicts with the kubelet or
// controllers, and is skipped when nothing would change.
func (s *Scheduler) setNotScheduled(ctx context.Context, pod *corev1.Pod, reason, msg, nominated string) {
	now := metav1.NewTime(s.clock.Now())
	cond := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason,
		Message: msg, LastTransitionTime: now,
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			if c.Status == cond.Status && c.Reason == cond.Reason && c.Message == msg && nominated == pod.Status.NominatedNodeName {
				return
			}
			if c.Status == cond.Status {
				cond.LastTransitionTime = c.LastTransitionTime
			}
		}
	}
	status := map[string]any{"conditions": []corev1.PodCondition{cond}}
	if nominated != "" {
		status["nominatedNodeName"] = nominated
	}
	data, err := json.Marshal(map[string]any{"status": status})
	if err == nil {
		_, err = s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}, "status")
	}
	if err != nil && !apierrors.IsNotFound(err) {
		utilruntime.HandleErrorWithContext(ctx, err, "updating PodScheduled condition", "pod", klog.KObj(pod))
	}
}

// String describes the scheduler's state, for logs and debugging.
func (s *Scheduler) String() string {
	a, b, u := s.Queue.Counts()
	n, p := s.Cache.Counts()
	return fmt.Sprintf("scheduler %s: %d nodes, %d pods cached; queue %d active, %d backoff, %d unschedulable",
		s.name, n, p, a, b, u)
}
