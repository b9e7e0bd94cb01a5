package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// runSchedPerf measures what kube-scheduler's scheduler_perf measures: the
// API server, etcd and the scheduler alone, binding pending pods to nodes
// that are plain Node objects (no agents, no leases, no controllers, so no
// other writes compete). It isolates the scheduler and the bind path from
// the node agents' status writes that the simulated-node figures include.
// With pods up to precreatedMax it also times the binds alone, and it
// reports the server's RSS with every pod bound.
func runSchedPerf(ctx context.Context, r *report, binary string, nodes int, podCounts []int, precreatedMax int) error {
	for _, pods := range podCounts {
		srv, err := startServer(ctx, binary, "--disable-controllers")
		if err != nil {
			return err
		}
		created, bound, err := schedPerf(ctx, srv, nodes, pods)
		var mem string
		if err == nil {
			mem, err = srv.memory(ctx)
		}
		srv.stop()
		if err != nil {
			return fmt.Errorf("scheduler_perf-like run, %d nodes, %d pods: %w", nodes, pods, err)
		}
		r.cluster(fmt.Sprintf("scheduler alone (as scheduler_perf: Node objects without agents, controllers off): %d pods created by 64 clients onto %d Ready nodes", pods, nodes),
			fmt.Sprintf("all bound %s after the first create = %.0f pods/s (the creates alone took %s, %.0f/s)", bound.Round(time.Millisecond),
				float64(pods)/bound.Seconds(), created.Round(time.Millisecond), float64(pods)/created.Seconds()))
		r.cluster(fmt.Sprintf("server RSS with %d pods bound (not running: no agents) to %d Node objects, controllers off", pods, nodes),
			mem)
		if pods > precreatedMax {
			continue
		}

		if srv, err = startServer(ctx, binary, "--disable-controllers"); err != nil {
			return err
		}
		untaint, bound, err := schedPerfPrecreated(ctx, srv, nodes, pods)
		srv.stop()
		if err != nil {
			return fmt.Errorf("scheduler_perf-like run with pods created first, %d nodes, %d pods: %w", nodes, pods, err)
		}
		r.cluster(fmt.Sprintf("scheduler alone, pods created first: %d pending pods, %d Node objects whose hold taint is then lifted", pods, nodes),
			fmt.Sprintf("all bound %s after the first untaint = %.0f pods/s (lifting the taints took %s)", bound.Round(time.Millisecond),
				float64(pods)/bound.Seconds(), untaint.Round(time.Millisecond)))
	}
	return nil
}

// schedPerfPrecreated separates the binds from the creates they compete
// with for the 2 cores: the pods are all created while every node has
// the hold taint, then the taints are lifted and the clock runs from the
// first untaint until the last pod is bound.
func schedPerfPrecreated(ctx context.Context, srv *benchServer, nodes, pods int) (untaint, bound time.Duration, err error) {
	c := kubernetes.NewForConfigOrDie(srv.config)
	if err := schedPerfNamespace(ctx, c); err != nil {
		return 0, 0, err
	}
	if err := createStaticNodes(ctx, c, nodes, holdTaint); err != nil {
		return 0, 0, err
	}
	if _, err := createPods(ctx, srv.config, "bench-sched", 64, pods); err != nil {
		return 0, 0, err
	}
	// The scheduler has tried every pod once and written why it could
	// not place it: these writes must not compete with the binds timed.
	pc, err := protobufClient(srv.config)
	if err != nil {
		return 0, 0, err
	}
	err = wait.PollUntilContextTimeout(ctx, 5*time.Second, scaled(10*time.Minute, pods, 20*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		list, err := pc.CoreV1().Pods("bench-sched").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, nil
		}
		for _, p := range list.Items {
			if !hasCondition(p.Status.Conditions, corev1.PodScheduled, corev1.ConditionFalse) {
				return false, nil
			}
		}
		return len(list.Items) == pods, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("waiting for the scheduler to try every pod once: %w", err)
	}
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer profilePhase(ctx, srv, fmt.Sprintf("schedperf-precreated-%dp", pods))()
	start := time.Now()
	untaintAll(ctx, c, list.Items)
	untaint = time.Since(start)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, scaled(10*time.Minute, pods, 40*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		none, err := nonePods(ctx, srv, "bench-sched", "spec.nodeName=")
		return err == nil && none, nil
	})
	return untaint, time.Since(start), err
}

func hasCondition(conds []corev1.PodCondition, t corev1.PodConditionType, status corev1.ConditionStatus) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == status
		}
	}
	return false
}

// schedPerfNamespace makes the pods' namespace and, since with the
// controllers off nobody else does, the default ServiceAccount that
// admission looks up.
func schedPerfNamespace(ctx context.Context, c kubernetes.Interface) error {
	if err := newNamespace(ctx, c, "bench-sched"); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	_, err := c.CoreV1().ServiceAccounts("bench-sched").Create(ctx, sa, metav1.CreateOptions{})
	return err
}

// schedPerf creates the nodes, then the pods, and times the creates and
// the moment the last pod is bound, both from the first create.
func schedPerf(ctx context.Context, srv *benchServer, nodes, pods int) (created, bound time.Duration, err error) {
	c := kubernetes.NewForConfigOrDie(srv.config)
	if err := schedPerfNamespace(ctx, c); err != nil {
		return 0, 0, err
	}
	if err := createStaticNodes(ctx, c, nodes); err != nil {
		return 0, 0, err
	}
	// Let the scheduler's cache see every node before the clock starts.
	time.Sleep(2 * time.Second)
	defer profilePhase(ctx, srv, fmt.Sprintf("schedperf-%dp", pods))()
	start := time.Now()
	if _, err := createPods(ctx, srv.config, "bench-sched", 64, pods); err != nil {
		return 0, 0, err
	}
	created = time.Since(start)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, scaled(10*time.Minute, pods, 40*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		none, err := nonePods(ctx, srv, "bench-sched", "spec.nodeName=")
		return err == nil && none, nil
	})
	return created, time.Since(start), err
}

// createStaticNodes creates count Ready nodes with taints, as
// scheduler_perf's node templates: 32 cpu, 128Gi, 110 pods each.
func createStaticNodes(ctx context.Context, c kubernetes.Interface, count int, taints ...corev1.Taint) error {
	work := make(chan int, count)
	for i := 0; i < count; i++ {
		work <- i
	}
	close(work)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := createStaticNode(ctx, c, fmt.Sprintf("static-%05d", i), taints); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func createStaticNode(ctx context.Context, c kubernetes.Interface, name string, taints []corev1.Taint) error {
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	n, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	n.Status = corev1.NodeStatus{Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "BenchReady"}}}
	_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	return err
}

// parseCounts reads "10000,30000".
func parseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}
