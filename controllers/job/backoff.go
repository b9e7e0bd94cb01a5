package job

import (
	"sync"
	"time"
)

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
