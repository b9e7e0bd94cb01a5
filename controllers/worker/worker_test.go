package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
)

func TestProcess(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Hour, time.Hour))
	defer q.ShutDown()
	results := map[string]error{
		"ok":       nil,
		"fail":     errors.New("boom"),
		"conflict": apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", errors.New("stale")),
	}
	sync := func(_ context.Context, key string) (time.Duration, error) { return 0, results[key] }
	for _, key := range []string{"ok", "fail", "conflict"} {
		q.Add(key)
		if !Process(context.Background(), "test", q, sync) {
			t.Fatal("queue reported shut down")
		}
	}
	// Failures (conflicts too) are requeued with backoff; successes forgotten.
	if got := q.NumRequeues("fail"); got != 1 {
		t.Errorf("fail requeues %d, want 1", got)
	}
	if got := q.NumRequeues("conflict"); got != 1 {
		t.Errorf("conflict requeues %d, want 1", got)
	}
	if got := q.NumRequeues("ok"); got != 0 {
		t.Errorf("ok requeues %d, want 0", got)
	}

	// A callback request comes back after the delay.
	q.Add("later")
	Process(context.Background(), "test", q, func(context.Context, string) (time.Duration, error) { return 10 * time.Millisecond, nil })
	done := make(chan string)
	go func() { k, _ := q.Get(); done <- k }()
	select {
	case k := <-done:
		if k != "later" {
			t.Fatalf("got %q", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("key asked back after 10ms never returned")
	}
}
