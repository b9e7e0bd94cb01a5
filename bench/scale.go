package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/metadata"
)

// scaled is a wait bound that grows with the work: base, or per item
// when that is longer. The full-size runs are long on 2 cores.
func scaled(base time.Duration, items int, per time.Duration) time.Duration {
	return max(base, time.Duration(items)*per)
}

// runLarge measures the big cluster on a fresh server: scheduling
// throughput of pods pending pods on nodes simulated nodes, then, with
// every pod Running, the server's RSS.
func runLarge(ctx context.Context, r *report, binary string, nodes, pods int) error {
	// Upstream's lease timing and eviction toleration: 5,000 nodes
	// renewing every 2.5 s would be 2,000 writes/s, more than 2 cores
	// serve beside the work measured; and with the control plane and the
	// 5,000 nodes saturating both cores, some renewals come late, which
	// with corral's 2 s toleration would evict the pods being measured.
	srv, err := startServer(ctx, binary, "--node-monitor-grace-period", "50s", "--default-unreachable-toleration-seconds", "300")
	if err != nil {
		return err
	}
	srv.nodeLease = 40 * time.Second
	// Room for every pod with a tenth to spare: 150,000 pods on 1,000
	// nodes need more than kubelet's default of 110 each.
	srv.nodePods = max(110, int64(pods/nodes)*11/10+1)
	defer srv.stop()
	sr, stopNodes, err := scheduleThroughput(ctx, srv, nodes, pods)
	if stopNodes != nil {
		defer stopNodes()
	}
	if err != nil {
		return fmt.Errorf("%d nodes: %w", nodes, err)
	}
	r.cluster(fmt.Sprintf("scheduling at %d simulated nodes (40 s leases renewed every 10 s, grace 50 s): pending pods bound after the hold taint is lifted", nodes),
		fmt.Sprintf("%d pods in %s = %.0f pods/s (lifting the taints took %s)", sr.pods,
			sr.binding.Round(time.Millisecond), float64(sr.pods)/sr.binding.Seconds(), sr.untaint.Round(time.Millisecond)))
	took, err := waitRunning(ctx, srv, "bench-sched", scaled(10*time.Minute, pods, 40*time.Millisecond))
	if err != nil {
		return fmt.Errorf("%d pods running on %d nodes: %w", pods, nodes, err)
	}
	if n, err := countRunning(ctx, srv, "bench-sched"); err != nil || n != pods {
		return fmt.Errorf("%d of %d pods running on %d nodes at the end (%v): evicted meanwhile?", n, pods, nodes, err)
	}
	mem, err := srv.memory(ctx)
	if err != nil {
		return err
	}
	r.cluster(fmt.Sprintf("server RSS with %d nodes and %d pods Running", nodes, pods),
		fmt.Sprintf("%s, all Running %s after binding", mem, took.Round(time.Second)))
	return nil
}

// waitRunning waits until no pod of ns is in another phase than Running.
func waitRunning(ctx context.Context, srv *benchServer, ns string, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, limit, true, func(ctx context.Context) (bool, error) {
		none, err := nonePods(ctx, srv, ns, "status.phase!=Running")
		return err == nil && none, nil
	})
	return time.Since(start), err
}

// nonePods reports whether ns has no pod matching fieldSelector. It asks
// for one item at most, so a poll costs the server a scan until the first
// match, not the encoding of every pending pod. (Not resourceVersion 0:
// the watch cache ignores the limit then.)
func nonePods(ctx context.Context, srv *benchServer, ns, fieldSelector string) (bool, error) {
	md, err := metadata.NewForConfig(srv.config)
	if err != nil {
		return false, err
	}
	list, err := md.Resource(podsResource).Namespace(ns).List(ctx, metav1.ListOptions{FieldSelector: fieldSelector, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(list.Items) == 0, nil
}

// countRunning counts the Running pods of ns not being deleted: one
// metadata list, once, at the end of a phase.
func countRunning(ctx context.Context, srv *benchServer, ns string) (int, error) {
	md, err := metadata.NewForConfig(srv.config)
	if err != nil {
		return 0, err
	}
	list, err := md.Resource(podsResource).Namespace(ns).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running", ResourceVersion: "0"})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
