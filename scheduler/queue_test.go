package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func newTestQueue() (*Queue, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	return NewQueue(clk), clk
}

func popName(t *testing.T, q *Queue) string {
	t.Helper()
	if a, _, _ := q.Counts(); a == 0 {
		t.Fatal("active queue is empty; Pop would block")
	}
	return q.Pop().Info.Pod.Name
}

func TestQueuePriorityThenArrival(t *testing.T) {
	q, clk := newTestQueue()
	for _, p := range []*corev1.Pod{
		makePod("low-1", priority(1)), makePod("high", priority(100)), makePod("low-2", priority(1)), makePod("none"),
	} {
		q.Add(p)
		clk.Step(time.Millisecond)
	}
	for _, want := range []string{"high", "low-1", "low-2", "none"} {
		if got := popName(t, q); got != want {
			t.Fatalf("popped %s, want %s", got, want)
		}
	}
}

func TestQueueBackoffDoublesToTenSeconds(t *testing.T) {
	q, _ := newTestQueue()
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := q.backoffDuration(i + 1); got != w*time.Second {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w*time.Second)
		}
	}
}

func TestQueueUnschedulableWaitsForEventThenBackoff(t *testing.T) {
	q, clk := newTestQueue()
	q.Add(makePod("p"))
	p := q.Pop()
	q.AddUnschedulable(p, map[string]bool{"NodeResourcesFit": true})
	if a, b, u := q.Counts(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("counts %d/%d/%d, want parked as unschedulable", a, b, u)
	}
	// An event that cannot help leaves it parked.
	q.MoveOnEvent(map[string]bool{"TaintToleration": true})
	if _, _, u := q.Counts(); u != 1 {
		t.Fatal("irrelevant event woke the pod")
	}
	// A relevant one during the backoff moves it to backoff, not active.
	q.MoveOnEvent(map[string]bool{"NodeResourcesFit": true})
	if a, b, _ := q.Counts(); a != 0 || b != 1 {
		t.Fatalf("counts active %d backoff %d, want backoff", a, b)
	}
	clk.Step(999 * time.Millisecond)
	q.FlushBackoff()
	if a, _, _ := q.Counts(); a != 0 {
		t.Fatal("left backoff before 1 s")
	}
	clk.Step(time.Millisecond)
	q.FlushBackoff()
	if got := popName(t, q); got != "p" {
		t.Fatalf("popped %s", got)
	}
	// Second failure: 2 s of backoff, straight to backoff on a nil verdict.
	q.AddUnschedulable(p, nil)
	clk.Step(1500 * time.Millisecond)
	q.FlushBackoff()
	if a, b, _ := q.Counts(); a != 0 || b != 1 {
		t.Fatalf("active %d backoff %d after 1.5 s, want still backing off", a, b)
	}
	clk.Step(500 * time.Millisecond)
	q.FlushBackoff()
	if a, _, _ := q.Counts(); a != 1 {
		t.Fatal("not active after 2 s")
	}
}

func TestQueueEventAfterBackoffGoesActive(t *testing.T) {
	q, clk := newTestQueue()
	q.Add(makePod("p"))
	q.AddUnschedulable(q.Pop(), map[string]bool{"NodeResourcesFit": true})
	clk.Step(5 * time.Second)
	q.MoveOnEvent(nil) // node added: every pod may fit
	if a, _, _ := q.Counts(); a != 1 {
		t.Fatal("pod whose backoff is over should be active at once")
	}
}

func TestQueueEventDuringAttemptMeansBackoff(t *testing.T) {
	// A node added while the pod was being decided may fit it: parking it
	// until the next event would lose that event.
	q, _ := newTestQueue()
	q.Add(makePod("p"))
	p := q.Pop()
	q.MoveOnEvent(nil)
	q.AddUnschedulable(p, map[string]bool{"NodeResourcesFit": true})
	if _, b, u := q.Counts(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d, want backoff", b, u)
	}
}

func TestQueueFlushUnschedulableAfterFiveMinutes(t *testing.T) {
	q, clk := newTestQueue()
	q.Add(makePod("p"))
	q.AddUnschedulable(q.Pop(), map[string]bool{"NodeAffinity": true})
	clk.Step(4 * time.Minute)
	q.FlushUnschedulable()
	if _, _, u := q.Counts(); u != 1 {
		t.Fatal("flushed too early")
	}
	clk.Step(time.Minute)
	q.FlushUnschedulable()
	if a, _, _ := q.Counts(); a != 1 {
		t.Fatal("not retried after 5 minutes")
	}
}

func TestQueueUpdateAndDelete(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(makePod("p", priority(1)))
	q.Add(makePod("q", priority(2)))
	q.Add(makePod("p", priority(3))) // update raises priority in place
	if got := popName(t, q); got != "p" {
		t.Fatalf("popped %s, want the updated p", got)
	}
	q.Delete(makePod("q"))
	if a, _, _ := q.Counts(); a != 0 {
		t.Fatal("deleted pod still queued")
	}
	// An unschedulable pod whose spec changes is retried.
	q.Add(makePod("r"))
	r := q.Pop()
	q.AddUnschedulable(r, map[string]bool{"NodeAffinity": true})
	q.Add(makePod("r", nodeSelector("disk", "ssd")))
	if _, b, u := q.Counts(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d after a spec change", b, u)
	}
	// A pod deleted during its attempt is not requeued.
	q.Add(makePod("s"))
	q.FlushBackoff()
	var s *QueuedPod
	for s == nil || s.Info.Pod.Name != "s" {
		s = q.Pop()
	}
	q.Delete(s.Info.Pod)
	q.AddUnschedulable(s, nil)
	if _, b, _ := q.Counts(); b != 1 { // only r
		t.Fatalf("backoff %d, want 1", b)
	}
}

func TestQueueRunFlushesAndCloses(t *testing.T) {
	q, clk := newTestQueue()
	q.Add(makePod("p"))
	q.AddUnschedulable(q.Pop(), nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { q.Run(stop); close(done) }()
	popped := make(chan *QueuedPod)
	go func() { popped <- q.Pop() }()
	for i := 0; i < 100; i++ {
		// Step until the ticker fires and the flush makes p active.
		clk.Step(100 * time.Millisecond)
		select {
		case p := <-popped:
			if p == nil || p.Info.Pod.Name != "p" {
				t.Fatalf("popped %v", p)
			}
			close(stop)
			<-done
			if q.Pop() != nil {
				t.Fatal("Pop after close should return nil")
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatal("backoff never flushed by Run")
}

func TestQueueUpdateDuringAttempt(t *testing.T) {
	q, _ := newTestQueue()
	q.Add(makePod("p"))
	p := q.Pop()
	// A status-only update (our own condition) changes nothing: parked.
	st := makePod("p")
	st.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Add(st)
	q.AddUnschedulable(p, map[string]bool{"NodeAffinity": true})
	if _, _, u := q.Counts(); u != 1 {
		t.Fatal("status update should not wake the pod")
	}
	if len(p.Info.Pod.Status.Conditions) != 1 {
		t.Error("the latest object was not kept")
	}
	// A spec update during the attempt may change the verdict: backoff.
	q2, _ := newTestQueue()
	q2.Add(makePod("r"))
	r := q2.Pop()
	q2.Add(makePod("r", nodeSelector("disk", "ssd")))
	q2.AddUnschedulable(r, map[string]bool{"NodeAffinity": true})
	if _, b, u := q2.Counts(); b != 1 || u != 0 {
		t.Fatalf("backoff %d unschedulable %d, want backoff", b, u)
	}
	if r.Info.Pod.Spec.NodeSelector["disk"] != "ssd" {
		t.Error("update not applied after the attempt")
	}
}

// A gated pod waits for its spec to change: no cluster event and no flush
// wakes it, and once ungated it is tried at once, without backoff.
func TestQueueGatedPodWaitsForItsSpec(t *testing.T) {
	q, clk := newTestQueue()
	pod := makePod("p")
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
	q.Add(pod)
	q.AddUnschedulable(q.Pop(), gatedFilters)
	q.MoveOnEvent(nil)
	clk.Step(10 * time.Minute)
	q.FlushUnschedulable()
	q.FlushBackoff()
	if a, b, u := q.Counts(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("active %d backoff %d unschedulable %d, want the pod parked", a, b, u)
	}
	ungated := pod.DeepCopy()
	ungated.Spec.SchedulingGates = nil
	q.Add(ungated)
	if a, _, _ := q.Counts(); a != 1 {
		t.Fatal("ungated pod is not active at once")
	}
	if p := q.Pop(); p.Attempts != 1 {
		t.Errorf("attempts %d after ungating, want 1 (the gated wait is no attempt)", p.Attempts)
	}
}
