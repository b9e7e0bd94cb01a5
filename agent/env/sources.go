package env

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Sources gives the objects a container's configuration refers to.
// Missing objects are reported as API NotFound errors
// (apierrors.IsNotFound), so optional references can tell them apart.
type Sources interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Service(ctx context.Context, namespace, name string) (*corev1.Service, error)
	// Services lists the services of one namespace.
	Services(ctx context.Context, namespace string) ([]*corev1.Service, error)
	// Node is the agent's node: its allocatable resources stand in for
	// missing limits, its addresses for status.hostIP(s).
	Node(ctx context.Context) (*corev1.Node, error)
}

// DefaultTTL is how long NewClientSources keeps an object (or its absence)
// before asking the API again: the delay before a changed ConfigMap or
// Secret reaches new containers and refreshed volumes.
const DefaultTTL = 5 * time.Second

// ClientSources is Sources over a clientset with a TTL cache shared by
// all pods of the node. Returned objects are shared: do not modify them.
type ClientSources struct {
	client   kubernetes.Interface
	nodeName string
	ttl      time.Duration
	clock    clock.PassiveClock

	mu        sync.Mutex
	entries   map[cacheKey]*cacheEntry
	lastSweep time.Time
}

type cacheKey struct{ kind, namespace, name string }

// cacheEntry is one cached answer; ready is closed once it is filled, so
// concurrent callers of a missing key share one request.
type cacheEntry struct {
	ready   chan struct{}
	obj     any
	err     error
	fetched time.Time
}

// NewClientSources returns Sources reading through client for the node
// nodeName, each answer kept for ttl (DefaultTTL when 0). A nil clock is
// the real clock.
func NewClientSources(client kubernetes.Interface, nodeName string, ttl time.Duration, clk clock.PassiveClock) *ClientSources {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &ClientSources{client: client, nodeName: nodeName, ttl: ttl, clock: clk, entries: map[cacheKey]*cacheEntry{}}
}

// get returns the cached answer for key or fetches it. Errors other than
// answers from the API (NotFound is an answer) are not cached beyond the
// callers already waiting.
func (s *ClientSources) get(ctx context.Context, key cacheKey, fetch func(context.Context) (any, error)) (any, error) {
	s.mu.Lock()
	s.sweepLocked()
	e := s.entries[key]
	if e != nil {
		select {
		case <-e.ready:
			if s.clock.Since(e.fetched) >= s.ttl {
				e = nil
			}
		default: // a fetch is under way: wait for it
		}
	}
	if e == nil {
		e = &cacheEntry{ready: make(chan struct{})}
		s.entries[key] = e
		s.mu.Unlock()
		e.obj, e.err = fetch(ctx)
		e.fetched = s.clock.Now()
		close(e.ready)
		if e.err != nil && !isAnswer(e.err) {
			s.mu.Lock()
			if s.entries[key] == e {
				delete(s.entries, key)
			}
			s.mu.Unlock()
		}
		return e.obj, e.err
	}
	s.mu.Unlock()
	select {
	case <-e.ready:
		return e.obj, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sweepLocked drops expired answers now and then, so objects no pod
// asks for any more (deleted pods, renamed secrets) do not stay forever.
func (s *ClientSources) sweepLocked() {
	now := s.clock.Now()
	if now.Sub(s.lastSweep) < 10*s.ttl {
		return
	}
	s.lastSweep = now
	for k, e := range s.entries {
		select {
		case <-e.ready:
			if now.Sub(e.fetched) >= s.ttl {
				delete(s.entries, k)
			}
		default:
		}
	}
}

// Invalidate drops every cached answer (tests, or a watch that saw a change).
func (s *ClientSources) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		select {
		case <-e.ready:
			delete(s.entries, k)
		default:
		}
	}
}

// ConfigMap implements Sources.
func (s *ClientSources) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	obj, err := s.get(ctx, cacheKey{"configmap", namespace, name}, func(ctx context.Context) (any, error) {
		return s.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.ConfigMap), nil
}

// Secret implements Sources.
func (s *ClientSources) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	obj, err := s.get(ctx, cacheKey{"secret", namespace, name}, func(ctx context.Context) (any, error) {
		return s.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Secret), nil
}

// Service implements Sources.
func (s *ClientSources) Service(ctx context.Context, namespace, name string) (*corev1.Service, error) {
	obj, err := s.get(ctx, cacheKey{"service", namespace, name}, func(ctx context.Context) (any, error) {
		return s.client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Service), nil
}

// Services implements Sources.
func (s *ClientSources) Services(ctx context.Context, namespace string) ([]*corev1.Service, error) {
	obj, err := s.get(ctx, cacheKey{"services", namespace, ""}, func(ctx context.Context) (any, error) {
		list, err := s.client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return nil, err
		}
		out := make([]*corev1.Service, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return obj.([]*corev1.Service), nil
}

// Node implements Sources.
func (s *ClientSources) Node(ctx context.Context) (*corev1.Node, error) {
	obj, err := s.get(ctx, cacheKey{"node", "", s.nodeName}, func(ctx context.Context) (any, error) {
		return s.client.CoreV1().Nodes().Get(ctx, s.nodeName, metav1.GetOptions{})
	})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}
