// Package expectations records, per controller key, what a controller has
// asked of the API server and its informers have not shown yet: pods
// created, pods deleted, and other removals (a Job's pod finalizers).
// Until they are seen the cache shows too few or too many pods, and a
// sync acting on it would act twice; so a sync that resizes waits until
// Satisfied. This is kube-controller-manager's ControllerExpectations
// with its UID tracking: deletions are tracked by pod key because each is
// observed twice (deletionTimestamp set, then the delete event) and must
// count once.
//
// A record expires after TTL, so an event that never comes (a create that
// failed silently, a lost watch event) cannot freeze a controller.
package expectations

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
)

// TTL bounds how long a sync waits for the informers.
const TTL = 5 * time.Minute

// Store holds the records of one controller; it is safe for concurrent use.
type Store struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	m     map[string]*record
}

type record struct {
	adds      int
	deletes   sets.Set[string]
	removals  sets.Set[string]
	timestamp time.Time
}

// New returns an empty store that reads time from clk.
func New(clk clock.PassiveClock) *Store {
	return &Store{clock: clk, m: map[string]*record{}}
}

// get returns key's record, creating an empty one; callers hold mu.
func (s *Store) get(key string) *record {
	r, ok := s.m[key]
	if !ok {
		r = &record{deletes: sets.New[string](), removals: sets.New[string]()}
		s.m[key] = r
	}
	return r
}

// Satisfied reports whether the cache may be trusted for key: nothing is
// outstanding, nothing was ever recorded, or the record expired.
func (s *Store) Satisfied(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	if !ok || (r.adds <= 0 && r.deletes.Len() == 0 && r.removals.Len() == 0) {
		return true
	}
	return s.clock.Since(r.timestamp) > TTL
}

// Set replaces key's record with adds pending creates and the given
// pending pod deletions, as a sync that computed one whole diff does.
func (s *Store) Set(key string, adds int, deletes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = &record{adds: adds, deletes: sets.New(deletes...), removals: sets.New[string](), timestamp: s.clock.Now()}
}

// ExpectCreations adds n pending creates to key's record.
func (s *Store) ExpectCreations(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key)
	r.adds += n
	r.timestamp = s.clock.Now()
}

// ExpectDeletion adds the pod's pending deletion to key's record.
func (s *Store) ExpectDeletion(key, podKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key)
	r.deletes.Insert(podKey)
	r.timestamp = s.clock.Now()
}

// ExpectRemoval adds a pending removal of something else (identified by
// id, e.g. a pod UID whose finalizer is being removed).
func (s *Store) ExpectRemoval(key, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.get(key)
	r.removals.Insert(id)
	r.timestamp = s.clock.Now()
}

// CreationObserved counts one create as seen (or as never going to be).
func (s *Store) CreationObserved(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok && r.adds > 0 {
		r.adds--
	}
}

// DeletionObserved marks the pod's deletion as seen; repeats are ignored.
func (s *Store) DeletionObserved(key, podKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok {
		r.deletes.Delete(podKey)
	}
}

// RemovalObserved marks the removal of id as seen.
func (s *Store) RemovalObserved(key, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok {
		r.removals.Delete(id)
	}
}

// RemovalPending reports whether the removal of id was sent but not seen.
func (s *Store) RemovalPending(key, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	return ok && r.removals.Has(id)
}

// Delete forgets key (its object is gone).
func (s *Store) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// Pending returns the outstanding creates and deletes of key, for tests
// and logs; ok is false when there is no record.
func (s *Store) Pending(key string) (adds, deletes int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	if !ok {
		return 0, 0, false
	}
	return r.adds, r.deletes.Len(), true
}
