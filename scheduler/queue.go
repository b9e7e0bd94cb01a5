package scheduler

import (
	"container/heap"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/clock"
)

// Upstream's defaults: a pod that did not fit waits 1 s, then 2 s, 4 s...
// up to 10 s before it may be tried again; one that no cluster event woke
// up is retried after 5 minutes anyway.
const (
	DefaultInitialBackoff        = 1 * time.Second
	DefaultMaxBackoff            = 10 * time.Second
	DefaultMaxUnschedulableWait  = 5 * time.Minute
	backoffFlushInterval         = 1 * time.Second
	unschedulableFlushInterval   = 30 * time.Second
	queueLocationActive          = 1
	queueLocationBackoff         = 2
	queueLocationUnschedulable   = 3
	queueLocationInFlight        = 4
	queueLocationDeletedInFlight = 5
	queueLocationNone            = 0
)

// QueuedPod is a pod waiting to be scheduled, with its history.
type QueuedPod struct {
	Info *PodInfo
	// Timestamp orders pods of equal priority (arrival) and starts the
	// backoff (time of the last failure).
	Timestamp time.Time
	Attempts  int
	// FailedFilters are the filters that rejected the pod last time; only
	// cluster events relevant to one of them wake the pod.
	FailedFilters map[string]bool
	cycle         int64 // scheduling cycle in which it was popped
	// updated holds an update that arrived while the pod was in flight:
	// the attempt reads Info without the queue's lock, so Info is only
	// replaced once the attempt hands the pod back.
	updated     *PodInfo
	specChanged bool // the update may change the verdict

	where int
	index int // in its heap
}

type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	q := x.(*QueuedPod)
	q.index = len(h.items)
	h.items = append(h.items, q)
}
func (h *podHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = nil
	h.items = h.items[:len(h.items)-1]
	return last
}
func (h *podHeap) peek() *QueuedPod {
	if len(h.items) == 0 {
		return nil
	}
	return h.items[0]
}

// Queue holds the pods to schedule: an active heap ordered by priority,
// then arrival; a backoff heap ordered by the end of each pod's backoff;
// and the unschedulable pods, which wait for a cluster change. It is safe
// for concurrent use.
type Queue struct {
	clock          clock.WithTicker
	initialBackoff time.Duration
	maxBackoff     time.Duration
	maxUnschedWait time.Duration

	mu            sync.Mutex
	cond          *sync.Cond
	active        podHeap
	backoff       podHeap
	pods          map[string]*QueuedPod // every pod known, wherever it is
	cycle         int64                 // scheduling cycles started
	moveCycle     int64                 // cycle of the last move request
	closed        bool
	unschedulable map[string]*QueuedPod
}

// NewQueue returns an empty queue using clk for backoff.
func NewQueue(clk clock.WithTicker) *Queue {
	q := &Queue{
		clock:          clk,
		initialBackoff: DefaultInitialBackoff,
		maxBackoff:     DefaultMaxBackoff,
		maxUnschedWait: DefaultMaxUnschedulableWait,
		pods:           map[string]*QueuedPod{},
		unschedulable:  map[string]*QueuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *QueuedPod) bool {
		if a.Info.Priority != b.Info.Priority {
			return a.Info.Priority > b.Info.Priority
		}
		return a.Timestamp.Before(b.Timestamp)
	}
	q.backoff.less = func(a, b *QueuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }
	return q
}

// backoffDuration doubles from the initial backoff per failed attempt.
func (q *Queue) backoffDuration(attempts int) time.Duration {
	d := q.initialBackoff
	for i := 1; i < attempts; i++ {
		if d >= q.maxBackoff-d {
			return q.maxBackoff
		}
		d += d
	}
	return d
}

func (q *Queue) backoffExpiry(p *QueuedPod) time.Time {
	return p.Timestamp.Add(q.backoffDuration(p.Attempts))
}

func (q *Queue) remove(p *QueuedPod) {
	switch p.where {
	case queueLocationActive:
		heap.Remove(&q.active, p.index)
	case queueLocationBackoff:
		heap.Remove(&q.backoff, p.index)
	case queueLocationUnschedulable:
		delete(q.unschedulable, p.Info.Key)
	}
	p.where = queueLocationNone
}

func (q *Queue) pushActive(p *QueuedPod) {
	p.where = queueLocationActive
	heap.Push(&q.active, p)
	q.cond.Signal()
}

func (q *Queue) pushBackoff(p *QueuedPod) {
	p.where = queueLocationBackoff
	heap.Push(&q.backoff, p)
}

// Add puts a new pod in the active queue, or updates a known one. An
// unschedulable pod whose spec changed may fit now and is requeued.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := pod.Namespace + "/" + pod.Name
	p, ok := q.pods[key]
	if !ok {
		p = &QueuedPod{Info: NewPodInfo(pod), Timestamp: q.clock.Now()}
		q.pods[key] = p
		q.pushActive(p)
		return
	}
	if p.where == queueLocationInFlight {
		p.updated = NewPodInfo(pod)
		p.specChanged = p.specChanged || schedulingChanged(p.Info.Pod, pod)
		return
	}
	old := p.Info.Pod
	p.Info = NewPodInfo(pod)
	switch p.where {
	case queueLocationActive:
		heap.Fix(&q.active, p.index) // priority may have changed
	case queueLocationBackoff:
		heap.Fix(&q.backoff, p.index)
	case queueLocationUnschedulable:
		if !schedulingChanged(old, pod) {
			return
		}
		q.remove(p)
		if isGated(p) {
			// It was never tried: no backoff, as upstream's gated pods.
			p.Attempts = 0
			q.pushActive(p)
			return
		}
		q.requeue(p)
	}
}

// isGated reports whether p waits for its scheduling gates to be removed:
// only an update of its spec can change that, no cluster event.
func isGated(p *QueuedPod) bool { return p.FailedFilters[schedulingGatesFilter] }

// schedulingChanged reports whether an update can change a decision: a
// status-only update (our own condition) cannot.
func schedulingChanged(old, pod *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Spec, pod.Spec) || !equality.Semantic.DeepEqual(old.Labels, pod.Labels)
}

// Delete forgets a pod (deleted, or bound by someone else).
func (q *Queue) Delete(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := pod.Namespace + "/" + pod.Name
	if p, ok := q.pods[key]; ok {
		if p.where == queueLocationInFlight {
			p.where = queueLocationDeletedInFlight // its attempt must not requeue it
		} else {
			q.remove(p)
		}
		delete(q.pods, key)
	}
}

// Pop blocks until a pod is active or the queue is closed (nil).
func (q *Queue) Pop() *QueuedPod {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	p := heap.Pop(&q.active).(*QueuedPod)
	p.where = queueLocationInFlight
	q.cycle++
	p.cycle = q.cycle
	p.Attempts++
	return p
}

// Done ends the attempt of a pod that was bound (or is being bound).
func (q *Queue) Done(p *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p.where == queueLocationInFlight {
		delete(q.pods, p.Info.Key)
	}
	p.where = queueLocationNone
}

// AddUnschedulable parks a pod that fit nowhere until a cluster event that
// concerns one of failedFilters. If such an event came while the pod was
// being scheduled, it goes straight to backoff: the decision may be stale.
// A nil failedFilters (an error, not a verdict) always means backoff.
func (q *Queue) AddUnschedulable(p *QueuedPod, failedFilters map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p.where != queueLocationInFlight {
		return // deleted meanwhile
	}
	p.Timestamp = q.clock.Now()
	p.FailedFilters = failedFilters
	changed := p.specChanged
	if p.updated != nil {
		p.Info, p.updated, p.specChanged = p.updated, nil, false
	}
	if failedFilters == nil || changed || q.moveCycle >= p.cycle {
		q.pushBackoff(p)
		return
	}
	p.where = queueLocationUnschedulable
	q.unschedulable[p.Info.Key] = p
}

// requeue puts a pod back to active, or to backoff while its backoff runs.
func (q *Queue) requeue(p *QueuedPod) {
	if q.clock.Now().Before(q.backoffExpiry(p)) {
		q.pushBackoff(p)
	} else {
		q.pushActive(p)
	}
}

// MoveOnEvent wakes the unschedulable pods that a cluster change may help:
// those rejected by one of the filters listed for the event (all of them
// when filters is nil).
func (q *Queue) MoveOnEvent(filters map[string]bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for _, p := range q.unschedulable {
		if !isGated(p) && relevant(p.FailedFilters, filters) {
			q.remove(p)
			q.requeue(p)
		}
	}
}

func relevant(failed, interested map[string]bool) bool {
	if interested == nil || len(failed) == 0 {
		return true
	}
	for f := range failed {
		if interested[f] {
			return true
		}
	}
	return false
}

// FlushBackoff moves pods whose backoff ended to the active queue.
func (q *Queue) FlushBackoff() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for p := q.backoff.peek(); p != nil && !now.Before(q.backoffExpiry(p)); p = q.backoff.peek() {
		heap.Pop(&q.backoff)
		q.pushActive(p)
	}
}

// FlushUnschedulable retries pods no event has woken for a long time: a
// safety net for changes the event mapping does not foresee.
func (q *Queue) FlushUnschedulable() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clock.Now()
	for _, p := range q.unschedulable {
		if !isGated(p) && now.Sub(p.Timestamp) >= q.maxUnschedWait {
			q.remove(p)
			q.requeue(p)
		}
	}
}

// Run flushes the backoff and unschedulable pods periodically until stop
// is closed, then closes the queue so Pop returns.
func (q *Queue) Run(stop <-chan struct{}) {
	backoffTick := q.clock.NewTicker(backoffFlushInterval)
	defer backoffTick.Stop()
	unschedTick := q.clock.NewTicker(unschedulableFlushInterval)
	defer unschedTick.Stop()
	for {
		select {
		case <-stop:
			q.Close()
			return
		case <-backoffTick.C():
			q.FlushBackoff()
		case <-unschedTick.C():
			q.FlushUnschedulable()
		}
	}
}

// Close wakes Pop callers; the queue is unusable afterwards.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Counts returns the number of active, backing-off and unschedulable pods.
func (q *Queue) Counts() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}
