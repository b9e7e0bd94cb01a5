package server

import (
	"context"
	"sync"
	"time"
)

// releaseTimeout bounds how long shutdown waits for the elected
// components to give their Leases back.
const releaseTimeout = 5 * time.Second

// electedComponents tracks the components that campaign for Leases (the
// controller manager and the scheduler). They are stopped by a pre-shutdown
// hook, while the API server still takes requests, so that they release
// their Leases through it and another server takes over at once instead
// of after the lease duration.
type electedComponents struct {
	mu      sync.Mutex
	cancels []context.CancelFunc
	running sync.WaitGroup
}

// context returns the context one component runs under; the component
// calls done when it has returned.
func (e *electedComponents) context(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	e.mu.Lock()
	e.cancels = append(e.cancels, cancel)
	e.mu.Unlock()
	e.running.Add(1)
	return ctx
}

func (e *electedComponents) done() { e.running.Done() }

// stop cancels every component and waits, at most releaseTimeout, until
// they have returned (and so released their Leases).
func (e *electedComponents) stop() {
	e.mu.Lock()
	for _, cancel := range e.cancels {
		cancel()
	}
	e.mu.Unlock()
	finished := make(chan struct{})
	go func() { e.running.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(releaseTimeout):
	}
}
