package main

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

type createResult struct {
	count    int
	rate     float64
	p50, p99 time.Duration
}

// newNamespace creates the namespace unless it exists.
func newNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// protobufClient is how client-go's typed clients talk by default now.
func protobufClient(cfg *restclient.Config) (*kubernetes.Clientset, error) {
	c := restclient.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(c)
}

// ownConnection is cfg with a dialer of its own: client-go shares one
// transport, so one HTTP/2 connection, among configs that look alike;
// a config with its own Dial gets a transport (a connection) of its own.
func ownConnection(cfg *restclient.Config) *restclient.Config {
	c := restclient.CopyConfig(cfg)
	c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return c
}

// createPods creates count pods from conc goroutines, each with its own
// client connection, and measures each request.
func createPods(ctx context.Context, cfg *restclient.Config, ns string, conc, count int) (createResult, error) {
	admin, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return createResult{}, err
	}
	if err := newNamespace(ctx, admin, ns); err != nil {
		return createResult{}, err
	}
	clients := make([]*kubernetes.Clientset, conc)
	for i := range clients {
		if clients[i], err = protobufClient(ownConnection(cfg)); err != nil {
			return createResult{}, err
		}
	}
	lat := make([]time.Duration, count)
	next := make(chan int, count)
	for i := 0; i < count; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(c *kubernetes.Clientset) {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				_, err := c.CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("pod-%06d", i)), metav1.CreateOptions{})
				lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}(clients[w])
	}
	wg.Wait()
	if firstErr != nil {
		return createResult{}, firstErr
	}
	p50, p99 := percentiles(lat)
	return createResult{count: count, rate: float64(count) / time.Since(start).Seconds(), p50: p50, p99: p99}, nil
}

type listResult struct {
	samples  int
	p50, p99 time.Duration
	pagedP50 time.Duration
}

// listLatency fills one namespace with n pods, then times full lists.
func listLatency(ctx context.Context, cfg *restclient.Config, n int) (listResult, error) {
	if _, err := createPods(ctx, cfg, "bench-list", 64, n); err != nil {
		return listResult{}, err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return listResult{}, err
	}
	pc, err := protobufClient(cfg)
	if err != nil {
		return listResult{}, err
	}
	const samples = 15
	var full, paged []time.Duration
	for i := 0; i < samples; i++ {
		t := time.Now()
		list, err := c.CoreV1().Pods("bench-list").List(ctx, metav1.ListOptions{})
		if err != nil {
			return listResult{}, err
		}
		if len(list.Items) != n {
			return listResult{}, fmt.Errorf("list returned %d pods, want %d", len(list.Items), n)
		}
		full = append(full, time.Since(t))
		t = time.Now()
		cont := ""
		for {
			page, err := pc.CoreV1().Pods("bench-list").List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
			if err != nil {
				return listResult{}, err
			}
			if cont = page.Continue; cont == "" {
				break
			}
		}
		paged = append(paged, time.Since(t))
	}
	p50, p99 := percentiles(full)
	pp50, _ := percentiles(paged)
	return listResult{samples: samples, p50: p50, p99: p99, pagedP50: pp50}, nil
}

type watchResult struct {
	events, deliveries int
	total              time.Duration
	p50, p99           time.Duration
}

// watchFanout opens watchers on one namespace, creates events pods there
// and measures, per delivery, the time from the create's return to the
// watcher seeing it.
func watchFanout(ctx context.Context, cfg *restclient.Config, watchers, events int) (watchResult, error) {
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return watchResult{}, err
	}
	ns := "bench-watch"
	if err := newNamespace(ctx, c, ns); err != nil {
		return watchResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var created sync.Map // name -> time created
	lat := make(chan time.Duration, watchers*events)
	var wg sync.WaitGroup
	for i := 0; i < watchers; i++ {
		w, err := c.CoreV1().Pods(ns).Watch(wctx, metav1.ListOptions{})
		if err != nil {
			return watchResult{}, err
		}
		wg.Add(1)
		go func(w watch.Interface) {
			defer wg.Done()
			defer w.Stop()
			seen := 0
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added {
					continue
				}
				name := ev.Object.(*corev1.Pod).Name
				for {
					if t, ok := created.Load(name); ok {
						lat <- time.Since(t.(time.Time))
						break
					}
					time.Sleep(time.Millisecond)
				}
				if seen++; seen == events {
					return
				}
			}
		}(w)
	}
	start := time.Now()
	for i := 0; i < events; i++ {
		name := fmt.Sprintf("w-%05d", i)
		t := time.Now()
		if _, err := c.CoreV1().Pods(ns).Create(wctx, benchPod(name), metav1.CreateOptions{}); err != nil {
			return watchResult{}, err
		}
		created.Store(name, t)
	}
	wg.Wait()
	total := time.Since(start)
	close(lat)
	var all []time.Duration
	for d := range lat {
		all = append(all, d)
	}
	if len(all) != watchers*events {
		return watchResult{}, fmt.Errorf("watch fan-out: %d deliveries, want %d", len(all), watchers*events)
	}
	p50, p99 := percentiles(all)
	return watchResult{events: events, deliveries: len(all), total: total, p50: p50, p99: p99}, nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
