package replicaset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a sync waits for the informer: a watch
// event that never comes (a create that failed silently, a lost event)
// must not freeze a ReplicaSet forever.
const expectationsTTL = 5 * time.Minute

// expectations records, per ReplicaSet key, the creates not yet seen by the
// pod informer and the pods whose deletion has not been seen yet. While
// any are outstanding the ReplicaSet is not resized: the cache would show
// too few or too many pods and the controller would act twice.
//
// Deletions are tracked by pod key, as upstream's UIDTrackingControllerExpectations
// does, because a pod's deletion is observed twice (deletionTimestamp set,
// then the delete event) and must be counted once.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	adds      int
	deletes   sets.Set[string]
	timestamp time.Time
}

func newExpectations(clk clock.PassiveClock) *expectations {
	return &expectations{clock: clk, m: map[string]*expectation{}}
}

// satisfied reports whether the ReplicaSet may be resized: nothing is
// outstanding, nothing was ever recorded, or the record expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.deletes.Len() == 0 {
		return true
	}
	return e.clock.Since(x.timestamp) > expectationsTTL
}

// expectCreations replaces the record with n pending creates.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletes: sets.New[string](), timestamp: e.clock.Now()}
}

// expectDeletions replaces the record with the given pending deletions.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{deletes: sets.New(podKeys...), timestamp: e.clock.Now()}
}

// creationObserved counts one create as seen (or as never going to be).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved marks the pod's deletion as seen; repeats are ignored.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.deletes.Delete(podKey)
	}
}

func (e *expectations) delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// pending returns the outstanding creates and deletes (for tests and logs).
func (e *expectations) pending(key string) (adds, deletes int, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return 0, 0, false
	}
	return x.adds, x.deletes.Len(), true
}
