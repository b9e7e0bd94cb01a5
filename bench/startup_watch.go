package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// podTimes is one pod's start-up: the bench's clock for create and what
// the watch saw, containerd's own timestamps (nanoseconds, same wall
// clock) for the runtime steps.
type podTimes struct {
	name, uid          string
	created            time.Time // just before the Create call
	scheduled, running time.Time // first seen on the watch: nodeName set, phase Running
	sandbox            time.Time // containerd: sandbox created (after CNI ADD, before the pause task starts)
	ctrCreated         time.Time // containerd: CreateContainer done
	ctrStarted         time.Time // containerd: task started
	runningCh          chan struct{}
}

func (p *podTimes) latency() time.Duration { return p.running.Sub(p.created) }

// tracker records, from one watch on a namespace, when each expected pod
// was first seen scheduled and Running.
type tracker struct {
	ns   string
	mu   sync.Mutex
	pods map[string]*podTimes
	w    *watchtools.RetryWatcher
}

type watchFunc func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error)

func (f watchFunc) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	return f(ctx, o)
}

func newTracker(ctx context.Context, c kubernetes.Interface, ns string) (*tracker, error) {
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, watchFunc(func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return c.CoreV1().Pods(ns).Watch(ctx, o)
	}))
	if err != nil {
		return nil, err
	}
	t := &tracker{ns: ns, pods: map[string]*podTimes{}, w: w}
	go func() {
		for ev := range w.ResultChan() {
			now := time.Now()
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				t.observe(pod, now)
			}
		}
	}()
	return t, nil
}

func (t *tracker) stop() { t.w.Stop() }

// uids are the pods seen, for the cleanup of their cgroups.
func (t *tracker) uids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, p := range t.pods {
		if p.uid != "" {
			out = append(out, p.uid)
		}
	}
	return out
}

func (t *tracker) expect(name string) *podTimes {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &podTimes{name: name, runningCh: make(chan struct{})}
	t.pods[name] = p
	return p
}

func (t *tracker) observe(pod *corev1.Pod, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pods[pod.Name]
	if p == nil {
		return
	}
	if p.uid == "" { // written once, before runningCh closes: read after it without the lock
		p.uid = string(pod.UID)
	}
	if p.scheduled.IsZero() && pod.Spec.NodeName != "" {
		p.scheduled = now
	}
	if p.running.IsZero() && pod.Status.Phase == corev1.PodRunning {
		p.running = now
		close(p.runningCh)
	}
}

// startupPod is the pod both corral and the floor run: one busybox
// container sleeping, no probes, restartPolicy Always, pod network.
func startupPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench-startup"}},
		Spec: corev1.PodSpec{NodeName: node, RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "app", Image: psImage, Command: []string{"sleep", "3600"}}}},
	}
}

// createAndWait creates the pods at once (one goroutine each, released
// together) and waits until the watch saw each Running.
func (t *tracker) createAndWait(ctx context.Context, c kubernetes.Interface, ns, node string, names []string, timeout time.Duration) ([]*podTimes, error) {
	pods := make([]*podTimes, len(names))
	for i, n := range names {
		pods[i] = t.expect(n)
	}
	errs := make(chan error, len(names))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func(p *podTimes) {
			defer wg.Done()
			<-gate
			p.created = time.Now()
			if _, err := c.CoreV1().Pods(ns).Create(ctx, startupPod(p.name, node), metav1.CreateOptions{}); err != nil {
				errs <- fmt.Errorf("creating %s: %w", p.name, err)
			}
		}(p)
	}
	close(gate)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	deadline := time.After(timeout)
	for _, p := range pods {
		select {
		case <-p.runningCh:
		case <-deadline:
			got, _ := c.CoreV1().Pods(ns).Get(ctx, p.name, metav1.GetOptions{})
			var st any
			if got != nil {
				st = got.Status
			}
			return nil, fmt.Errorf("pod %s/%s not Running after %s: %+v", ns, p.name, timeout, st)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return pods, nil
}

// addRuntimeTimes reads containerd's timestamps of each pod's sandbox and
// container from the node's CRI socket (read-only calls).
func addRuntimeTimes(ctx context.Context, rt runtimeapi.RuntimeServiceClient, pods []*podTimes) error {
	for _, p := range pods {
		sel := map[string]string{"io.kubernetes.pod.uid": p.uid}
		sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
		if err != nil {
			return err
		}
		cs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
		if err != nil {
			return err
		}
		if len(sbs.Items) != 1 || len(cs.Containers) != 1 {
			return fmt.Errorf("pod %s: %d sandboxes and %d containers in containerd, want 1 and 1", p.name, len(sbs.Items), len(cs.Containers))
		}
		st, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cs.Containers[0].Id})
		if err != nil {
			return err
		}
		p.sandbox = time.Unix(0, sbs.Items[0].CreatedAt)
		p.ctrCreated = time.Unix(0, cs.Containers[0].CreatedAt)
		p.ctrStarted = time.Unix(0, st.Status.StartedAt)
	}
	return nil
}

// deletePodsAPI deletes every pod of ns (grace 1 s: sleep as PID 1
// ignores SIGTERM) and waits until the API has none.
func deletePodsAPI(ctx context.Context, c kubernetes.Interface, ns string) error {
	err := c.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](1)}, metav1.ListOptions{})
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, nil
	})
}

// deletePods deletes every pod of ns and waits until the API and the
// node's containerd have none.
func deletePods(ctx context.Context, c kubernetes.Interface, rt runtimeapi.RuntimeServiceClient, ns string) error {
	if err := deletePodsAPI(ctx, c, ns); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
			LabelSelector: map[string]string{"io.kubernetes.pod.namespace": ns}}})
		return err == nil && len(sbs.Items) == 0, nil
	})
}

// startupNamespace creates ns and waits for its default ServiceAccount,
// which pod admission needs.
func startupNamespace(ctx context.Context, c kubernetes.Interface, ns string) error {
	if err := newNamespace(ctx, c, ns); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}
