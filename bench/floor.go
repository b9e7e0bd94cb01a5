package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"corral/storage"
)

// benchPod is the pod every create benchmark writes.
func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "load"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.local/bench:1.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		}}},
	}
}

// podValueSize is the size of a stored bench pod (protobuf plus the
// defaults and metadata the server adds), estimated generously.
func podValueSize() (int, error) {
	p := benchPod("bench-pod-00000")
	data, err := p.Marshal()
	if err != nil {
		return 0, err
	}
	// Defaults, managedFields and status roughly double what the client sends.
	return 2*len(data) + 300, nil
}

// floorResult is raw etcd puts at one concurrency.
type floorResult struct {
	rate     float64
	p50, p99 time.Duration
}

// etcdFloor runs raw puts of valueSize bytes against a fresh embedded etcd
// (fsync on, default ticks) at each concurrency.
func etcdFloor(ctx context.Context, valueSize int, concurrencies []int, count int) (map[int]floorResult, error) {
	dir, err := os.MkdirTemp("", "corral-bench-etcd-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	e, err := storage.StartEmbedded(ctx, storage.EmbeddedConfig{DataDir: dir,
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", cp), PeerURL: fmt.Sprintf("http://127.0.0.1:%d", pp)})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	client, err := storage.NewClient(e.Endpoints)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	value := string(make([]byte, valueSize))
	out := map[int]floorResult{}
	for _, conc := range concurrencies {
		lat := make([]time.Duration, count)
		var wg sync.WaitGroup
		var firstErr error
		var mu sync.Mutex
		next := make(chan int, count)
		for i := 0; i < count; i++ {
			next <- i
		}
		close(next)
		start := time.Now()
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					t := time.Now()
					_, err := client.Put(ctx, fmt.Sprintf("/floor/c%d/%06d", conc, i), value)
					lat[i] = time.Since(t)
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
		elapsed := time.Since(start)
		p50, p99 := percentiles(lat)
		out[conc] = floorResult{rate: float64(count) / elapsed.Seconds(), p50: p50, p99: p99}
	}
	return out, nil
}
