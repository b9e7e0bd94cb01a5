package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"corral/agent"
)

var holdTaint = corev1.Taint{Key: "bench.corral.dev/hold", Value: "true", Effect: corev1.TaintEffectNoSchedule}

// joinSimulated runs count simulated nodes in this process against srv.
func joinSimulated(srv *benchServer, name string, count int, labels map[string]string, taints []corev1.Taint) (func(), error) {
	token, err := readTrimmed(filepath.Join(srv.dataDir, "token"))
	if err != nil {
		return nil, err
	}
	rc := &restclient.Config{Host: srv.config.Host, BearerToken: token, QPS: float32(200 + 2*count), Burst: 400 + 4*count,
		TLSClientConfig: restclient.TLSClientConfig{CAFile: filepath.Join(srv.dataDir, "tls", "ca.crt")}}
	podsCap := srv.nodePods
	if podsCap == 0 {
		podsCap = 110
	}
	nodes, err := agent.SimulatedNodes{Count: count, Name: name, Labels: labels, CPU: resource.MustParse("32"),
		Memory: resource.MustParse("128Gi"), EphemeralStorage: resource.MustParse("100Gi"), Pods: podsCap,
		StartDelay: 100 * time.Millisecond}.NodeConfigs()
	if err != nil {
		return nil, err
	}
	for i := range nodes {
		nodes[i].Taints = taints
	}
	lease := srv.nodeLease
	if lease == 0 {
		lease = 10 * time.Second
	}
	client, err := protobufClient(rc) // protobuf, as `corral agent` and kubelet
	if err != nil {
		return nil, err
	}
	// Real nodes each have a connection; the fleet's writes go over one
	// per 25 nodes, each with its share of the rate limit.
	shards := max(1, count/25)
	src := restclient.CopyConfig(rc)
	src.QPS, src.Burst = rc.QPS/float32(shards)+10, rc.Burst/shards+20
	nodeClients := make([]kubernetes.Interface, shards)
	for i := range nodeClients {
		if nodeClients[i], err = protobufClient(ownConnection(src)); err != nil {
			return nil, err
		}
	}
	a, err := agent.New(agent.Options{Client: client, NodeClients: nodeClients, Nodes: nodes, LeaseDuration: lease})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	return func() { cancel(); <-done }, nil
}

func readyNodes(ctx context.Context, c kubernetes.Interface) (int, error) {
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, node := range list.Items {
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

type scheduleResult struct {
	nodes, pods      int
	untaint, binding time.Duration
}

// scheduleThroughput: nodes join tainted, pods pile up pending, then the
// taints go and the time until every pod is bound is measured.
func scheduleThroughput(ctx context.Context, srv *benchServer, nodes, pods int) (scheduleResult, func(), error) {
	c := kubernetes.NewForConfigOrDie(srv.config)
	stop, err := joinSimulated(srv, "sched", nodes, nil, []corev1.Taint{holdTaint})
	if err != nil {
		return scheduleResult{}, nil, err
	}
	if err := wait.PollUntilContextTimeout(ctx, time.Second, scaled(5*time.Minute, nodes, 100*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		n, err := readyNodes(ctx, c)
		return err == nil && n >= nodes, nil
	}); err != nil {
		return scheduleResult{}, stop, fmt.Errorf("nodes not ready: %w", err)
	}
	if _, err := createPods(ctx, srv.config, "bench-sched", 64, pods); err != nil {
		return scheduleResult{}, stop, err
	}
	list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return scheduleResult{}, stop, err
	}
	defer profilePhase(ctx, srv, fmt.Sprintf("schedule-%dn", nodes))()
	start := time.Now()
	untaintAll(ctx, c, list.Items)
	untaint := time.Since(start)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, scaled(10*time.Minute, pods, 40*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		none, err := nonePods(ctx, srv, "bench-sched", "spec.nodeName=")
		return err == nil && none, nil
	})
	return scheduleResult{nodes: nodes, pods: pods, untaint: untaint, binding: time.Since(start)}, stop, err
}

// untaintAll lifts every node's taints, 32 patches at a time.
func untaintAll(ctx context.Context, c kubernetes.Interface, nodes []corev1.Node) {
	var wg sync.WaitGroup
	work := make(chan string, len(nodes))
	for _, n := range nodes {
		work <- n.Name
	}
	close(work)
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				patch := []byte(`{"spec":{"taints":null}}`)
				c.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			}
		}()
	}
	wg.Wait()
}

// deployResult is the rollout time and the write latency seen meanwhile.
type deployResult struct {
	took time.Duration
	// probe: the side client's ConfigMap updates.
	probe          []time.Duration
	probeErrs      int
	serverP99      time.Duration // p99 of every mutating request the server timed
	serverRequests int
	serverP99Exact bool // false: p99 fell past the largest histogram bucket
	rejected       int  // requests turned away with 429 meanwhile
	// Live nodes taken for dead meanwhile (every node is alive here): the
	// most NotReady at once, over samples every 5 s, and the sum.
	notReadyMax, notReadySamples int
	evicted                      int // pods the node lifecycle controller deleted meanwhile
}

// watchNotReady samples the NotReady nodes every 5 s until the returned
// function is called, which returns the most seen at once and the sum
// over the samples.
func watchNotReady(ctx context.Context, srv *benchServer) func() (int, int) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	most, sum := 0, 0
	go func() {
		defer close(done)
		c, err := protobufClient(srv.config)
		if err != nil {
			return
		}
		for sleep(ctx, 5*time.Second) == nil {
			list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				continue
			}
			n := 0
			for _, node := range list.Items {
				for _, cond := range node.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
						n++
					}
				}
			}
			most, sum = max(most, n), sum+n
		}
	}()
	return func() (int, int) { cancel(); <-done; return most, sum }
}

// deploymentsToRunning applies deployments totalling replicas and waits
// until every pod reports Running, while a side client writes a small
// object every 100 ms; the server's own request histogram is scraped
// before and after.
func deploymentsToRunning(ctx context.Context, srv *benchServer, deployments, perDeployment int) (deployResult, error) {
	c := kubernetes.NewForConfigOrDie(srv.config)
	ns := "bench-deploy"
	if err := newNamespace(ctx, c, ns); err != nil {
		return deployResult{}, err
	}
	beforeFam, err := serverMetrics(ctx, srv.config)
	if err != nil {
		return deployResult{}, err
	}
	before, err := mutatingHistogram(beforeFam)
	if err != nil {
		return deployResult{}, err
	}
	probe, err := startWriteProbe(ctx, srv.config, "bench-probe", 100*time.Millisecond)
	if err != nil {
		return deployResult{}, err
	}
	stopProfile := profilePhase(ctx, srv, "deploy")
	stopWatch := watchNotReady(ctx, srv)
	res, err := applyAndWait(ctx, srv, c, ns, deployments, perDeployment)
	res.notReadyMax, res.notReadySamples = stopWatch()
	stopProfile()
	res.probe, res.probeErrs = probe.stop()
	if err != nil {
		return res, err
	}
	afterFam, err := serverMetrics(ctx, srv.config)
	if err != nil {
		return res, err
	}
	after, err := mutatingHistogram(afterFam)
	if err != nil {
		return res, err
	}
	res.serverP99, res.serverRequests, res.serverP99Exact = quantileSince(before, after, 0.99)
	res.rejected = int(rejected(afterFam) - rejected(beforeFam))
	res.evicted = int(counter(afterFam, evictionsMetric) - counter(beforeFam, evictionsMetric))
	return res, nil
}

func applyAndWait(ctx context.Context, srv *benchServer, c kubernetes.Interface, ns string, deployments, perDeployment int) (deployResult, error) {
	start := time.Now()
	for i := 0; i < deployments; i++ {
		r := int32(perDeployment)
		labels := map[string]string{"app": fmt.Sprintf("app-%d", i)}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("app-%d", i)}, Spec: appsv1.DeploymentSpec{
			Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: benchPod("x").Spec}}}
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return deployResult{}, err
		}
	}
	// The Deployments' own ready counts: listing tens of thousands of pods
	// twice a second would be a large share of the load measured.
	want, ready := int32(deployments*perDeployment), int32(0)
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, scaled(10*time.Minute, int(want), 50*time.Millisecond), true, func(ctx context.Context) (bool, error) {
		list, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		ready = 0
		for _, d := range list.Items {
			ready += d.Status.ReadyReplicas
		}
		return ready >= want, nil
	})
	if err != nil {
		err = fmt.Errorf("%d of %d replicas ready after %s: %w", ready, want, time.Since(start).Round(time.Second), err)
	}
	return deployResult{took: time.Since(start)}, err
}

// nodeDeath kills one node holding about a third of a deployment's pods
// and measures until all replicas run again on the two survivors.
func nodeDeath(ctx context.Context, srv *benchServer, rounds int) ([]time.Duration, error) {
	c := kubernetes.NewForConfigOrDie(srv.config)
	ns := "bench-death"
	if err := newNamespace(ctx, c, ns); err != nil {
		return nil, err
	}
	var out []time.Duration
	for round := 0; round < rounds; round++ {
		pool := map[string]string{"pool": fmt.Sprintf("death-%d", round)}
		stopSpares, err := joinSimulated(srv, fmt.Sprintf("spare-%d", round), 2, pool, nil)
		if err != nil {
			return nil, err
		}
		defer stopSpares()
		stopVictim, err := joinSimulated(srv, fmt.Sprintf("victim-%d", round), 1, pool, nil)
		if err != nil {
			return nil, err
		}
		replicas := int32(30)
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("round-%d", round)}, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: pool},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: pool},
				Spec: corev1.PodSpec{NodeSelector: pool, Containers: benchPod("x").Spec.Containers}}}}
		// Start the deployment once the victim is Ready, so it gets a share.
		victim := fmt.Sprintf("victim-%d", round)
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			n, err := c.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
			return err == nil && len(n.Status.Conditions) > 0 && n.Status.Conditions[0].Status == corev1.ConditionTrue, nil
		}); err != nil {
			return nil, fmt.Errorf("victim not ready: %w", err)
		}
		// A node killed before its first Lease renewal is judged with the
		// longer start-up grace; measure a node that is fully up.
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := c.CoordinationV1().Leases("kube-node-lease").Get(ctx, victim, metav1.GetOptions{})
			return err == nil, nil
		}); err != nil {
			return nil, fmt.Errorf("victim lease: %w", err)
		}
		if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		running := func(ctx context.Context, exclude string) int {
			pl, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "pool=" + pool["pool"]})
			if err != nil {
				return 0
			}
			n := 0
			for _, p := range pl.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Spec.NodeName != exclude {
					n++
				}
			}
			return n
		}
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			return running(ctx, "") == 30, nil
		}); err != nil {
			return nil, fmt.Errorf("round %d: pods not running: %w", round, err)
		}
		stopVictim()
		killed := time.Now()
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			return running(ctx, victim) == 30, nil
		}); err != nil {
			return nil, fmt.Errorf("round %d: replacements not running: %w", round, err)
		}
		out = append(out, time.Since(killed))
		if os.Getenv("BENCH_DEBUG") != "" {
			n, _ := c.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
			for _, t := range n.Spec.Taints {
				if t.TimeAdded != nil {
					fmt.Fprintf(os.Stderr, "round %d: taint %s at +%s\n", round, t.Key, t.TimeAdded.Sub(killed))
				}
			}
			pl, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "pool=" + pool["pool"]})
			for _, p := range pl.Items {
				if p.CreationTimestamp.After(killed.Add(-time.Second)) {
					fmt.Fprintf(os.Stderr, "round %d: replacement created at +%s\n", round, p.CreationTimestamp.Sub(killed))
					break
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}
