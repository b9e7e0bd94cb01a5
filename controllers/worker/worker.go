// Package worker is the loop every corral controller runs: wait for the
// informer caches, then take keys from a rate-limited work queue, sync
// each, and requeue with backoff on failure.
package worker

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// Sync handles one key. A nil error with after > 0 asks for the key again
// after that long (deadlines, backoffs, schedules).
type Sync[K comparable] func(ctx context.Context, key K) (after time.Duration, err error)

// Plain adapts a sync function that never asks to be called back.
func Plain[K comparable](sync func(ctx context.Context, key K) error) Sync[K] {
	return func(ctx context.Context, key K) (time.Duration, error) { return 0, sync(ctx, key) }
}

// Run waits for synced, then runs workers goroutines on queue until ctx
// ends, and shuts the queue down on return.
func Run[K comparable](ctx context.Context, name string, workers int, queue workqueue.TypedRateLimitingInterface[K],
	synced []cache.InformerSynced, sync Sync[K]) {
	defer utilruntime.HandleCrash()
	defer queue.ShutDown()
	logger := klog.FromContext(ctx)
	logger.Info("Starting controller", "controller", name)
	if !cache.WaitForNamedCacheSync(name, ctx.Done(), synced...) {
		return
	}
	for i := 0; i < workers; i++ {
		go wait.UntilWithContext(ctx, func(ctx context.Context) {
			for Process(ctx, name, queue, sync) {
			}
		}, time.Second)
	}
	<-ctx.Done()
	logger.Info("Shutting down controller", "controller", name)
}

// Process handles the next key; it returns false once the queue is shut
// down.
func Process[K comparable](ctx context.Context, name string, queue workqueue.TypedRateLimitingInterface[K], sync Sync[K]) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	after, err := sync(ctx, key)
	if err != nil {
		// A conflict only means the cache was behind; the retry reads the
		// newer object, so it is not worth an error line.
		if apierrors.IsConflict(err) {
			klog.FromContext(ctx).V(4).Info("Conflict, retrying", "controller", name, "key", key)
		} else {
			utilruntime.HandleErrorWithContext(ctx, err, "Sync failed", "controller", name, "key", key)
		}
		queue.AddRateLimited(key)
		return true
	}
	queue.Forget(key)
	if after > 0 {
		queue.AddAfter(key, after)
	}
	return true
}
