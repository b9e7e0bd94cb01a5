package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// expectationsTTL bounds the wait for an informer event that never comes.
const expectationsTTL = 5 * time.Minute

// expectations records, per Job key, what this controller did that its
// informers have not shown yet: pod creates, pod deletes (by pod key, as a
// deletion is seen twice: deletionTimestamp, then the delete event) and
// finalizer removals (by pod UID). Until they are seen the cache shows too
// few or too many pods, or pods that look uncounted, and acting on it
// would create extra pods or count a pod twice.
type expectations struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*expectation
}

type expectation struct {
	adds       int
	deletes    sets.Set[string]
	finalizers sets.Set[types.UID]
	timestamp  time.Time
}

func newExpectations(clk clock.PassiveClock) *expectations {
	return &expectations{clock: clk, m: map[string]*expectation{}}
}

func (e *expectations) get(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{deletes: sets.New[string](), finalizers: sets.New[types.UID]()}
		e.m[key] = x
	}
	return x
}

// satisfied reports whether the pod cache may be trusted for resizing.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && x.deletes.Len() == 0 && x.finalizers.Len() == 0) {
		return true
	}
	return e.clock.Since(x.timestamp) > expectationsTTL
}

func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.adds += n
	x.timestamp = e.clock.Now()
}

func (e *expectations) expectDeletion(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.deletes.Insert(podKey)
	x.timestamp = e.clock.Now()
}

func (e *expectations) expectFinalizerRemoval(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.finalizers.Insert(uid)
	x.timestamp = e.clock.Now()
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

func (e *expectations) finalizerRemovalObserved(key string, uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.finalizers.Delete(uid)
	}
}

// finalizerPending reports whether a finalizer removal was sent for the
// pod but the cache still shows the finalizer.
func (e *expectations) finalizerPending(key string, uid types.UID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	return ok && x.finalizers.Has(uid)
}

func (e *expectations) delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// backoffRecord remembers the failures since the last success, for the
// delay before the next pod. It lives in memory, as upstream's does: a
// restarted controller forgets the delay, not the failures.
type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

const (
	backoffBase = 10 * time.Second
	backoffMax  = 6 * time.Minute
)

// delay is 10s, 20s, 40s, ... for the 1st, 2nd, 3rd failure, capped.
func (r backoffRecord) delay() time.Duration {
	if r.failures <= 0 {
		return 0
	}
	d := backoffBase
	for i := 1; i < r.failures && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// remaining is how long new pods must still wait.
func (r backoffRecord) remaining(now time.Time) time.Duration {
	if r.failures == 0 {
		return 0
	}
	return max(0, r.lastFailure.Add(r.delay()).Sub(now))
}

type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

func (b *backoffStore) get(key string) backoffRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

// peek returns the record as it will be once the newly counted pods
// are recorded: a success clears the streak.
func (b *backoffStore) peek(key string, newSucceeded, newFailed int, now time.Time) backoffRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.m[key]
	switch {
	case newFailed > 0:
		r.failures += newFailed
		r.lastFailure = now
	case newSucceeded > 0:
		r = backoffRecord{}
	}
	return r
}

func (b *backoffStore) set(key string, r backoffRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[key] = r
}

func (b *backoffStore) delete(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}
