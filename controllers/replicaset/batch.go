package replicaset

import (
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// statusBatch is how often, at most, a ReplicaSet is synced for its pods'
// status changes alone (bound, started, ready). A sync counts every pod of
// the set, so with thousands of pods changing status, syncing on each
// change spends the CPU the API server needs; within this window the
// changes are counted together. Creations, deletions and label or owner
// changes are still synced at once.
const statusBatch = 500 * time.Millisecond

// syncTimes remembers when each ReplicaSet was last synced.
type syncTimes struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *syncTimes) set(key string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]time.Time{}
	}
	s.last[key] = at
}

func (s *syncTimes) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.last, key)
}

// wait is how long a status-only change of key waits: what is left of
// the window since its last sync.
func (s *syncTimes) wait(key string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[key].Add(statusBatch).Sub(now)
}

// enqueueStatusChange queues rs for a change of its pods' status, batched.
func (c *Controller) enqueueStatusChange(rs *appsv1.ReplicaSet) {
	key := keyOf(rs)
	if d := c.syncTimes.wait(key, c.clock.Now()); d > 0 {
		c.queue.AddAfter(key, d)
		return
	}
	c.queue.Add(key)
}
