package daemonset

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds how long a sync waits for the informer: a lost
// event must not freeze a DaemonSet forever.
const expectationsTTL = 5 * time.Minute

// expectations records, per DaemonSet key, creates not yet seen by the pod
// informer and pods whose deletion has not been seen. While any are
// outstanding the controller does not create or delete pods, since the
// cache would make it act twice. Deletions are keyed by pod because each
// is observed twice (deletionTimestamp, then the delete event).
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

// satisfied reports whether nothing is outstanding (or the record expired).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && x.deletes.Len() == 0) {
		return true
	}
	return e.clock.Since(x.timestamp) > expectationsTTL
}

// expect replaces the record with adds creates and the given deletions.
func (e *expectations) expect(key string, adds int, deletes []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: adds, deletes: sets.New(deletes...), timestamp: e.clock.Now()}
}

func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

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
