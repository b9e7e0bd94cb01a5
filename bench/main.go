// Command bench measures corral against the floor of this machine and
// writes the figures to docs/benchmarks.md (make bench).
//
// Every figure is a ratio measured in one run: corral's API (a real
// `corral server --disable-agent` subprocess on embedded etcd) against raw
// etcd puts of the same value size on a fresh embedded etcd in this
// process, on the same disk. Load is bounded in count and time and goes to
// loopback only.
//
// The pod-startup part (issue C, podstartup.go) runs real containers: a
// `corral server` with its node agent against raw CRI calls on the same
// containerd. It needs root and containerd and is skipped, saying why,
// without them; its pod and service ranges are private test ranges the
// agent routes to a blackhole and a sink.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	binary := flag.String("binary", "bin/corral", "corral binary to measure")
	out := flag.String("out", "docs/benchmarks.md", "report file")
	pods := flag.Int("pods", 3000, "pods created per concurrency level")
	listPods := flag.Int("list-pods", 10000, "pods present for the list benchmark")
	watchers := flag.Int("watchers", 100, "watchers for the fan-out benchmark")
	nodes := flag.Int("nodes", 1000, "simulated nodes for the cluster benchmarks (0 skips them)")
	schedPods := flag.Int("sched-pods", 10000, "pending pods for the scheduling benchmark")
	deployReplicas := flag.Int("deploy-replicas", 5000, "replicas (in 10 deployments) for the rollout benchmark")
	deathRounds := flag.Int("death-rounds", 5, "node deaths measured (p50/p99 over them)")
	largeNodes := flag.Int("large-nodes", 0, "simulated nodes for the large cluster (scheduling, RSS); 0 skips it, 5000 for the full figure")
	largePods := flag.Int("large-pods", 30000, "pending pods scheduled, then Running, in the large cluster")
	api := flag.Bool("api", true, "run the API server benchmarks (issue A)")
	schedNodes := flag.Int("schedperf-nodes", 5000, "Node objects for the scheduler-alone benchmark (as scheduler_perf); 0 skips it")
	schedPerfPods := flag.String("schedperf-pods", "10000,30000", "pending pod counts for the scheduler-alone benchmark, a fresh server each")
	schedPrecreated := flag.Int("schedperf-precreated-max", 30000, "also time binding pods created first, for pod counts up to this")
	skip := podStartupSkip()
	podStartup := flag.Bool("pod-startup", skip == "", "run the pod-startup benchmark (issue C: real containers; root, containerd)")
	startupPods := flag.Int("startup-pods", 50, "pod-startup samples per mode (one at a time, and in bursts)")
	startupBurst := flag.Int("startup-burst", 20, "pods created at once in the pod-startup burst mode")
	rssPods := flag.Int("rss-pods", 100, "running pods for the server and agent RSS figures (0 skips them)")
	standalone := flag.Bool("standalone-agent", true, "also measure a standalone `corral agent` process's RSS")
	timeout := flag.Duration("timeout", 45*time.Minute, "bound on the whole run")
	flag.StringVar(&profileDir, "profile-dir", "", "write the server's CPU and heap profiles of each measured cluster phase here")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := &report{started: time.Now(), command: "make bench (go run ./bench " + strings.Join(os.Args[1:], " ") + ")"}
	if *api {
		if err := run(ctx, r, *binary, *pods, *listPods, *watchers); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	// A failed cluster phase is reported as a row and the run goes on, so
	// one phase's failure does not lose the others' figures.
	failed := false
	phase := func(name string, f func() error) {
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", name+":", err)
			r.cluster(name, "failed: "+err.Error())
			failed = true
		}
	}
	if *nodes > 0 {
		phase(fmt.Sprintf("cluster of %d simulated nodes", *nodes), func() error {
			return runCluster(ctx, r, *binary, *nodes, *schedPods, *deployReplicas, *deathRounds)
		})
	}
	if *largeNodes > 0 {
		phase(fmt.Sprintf("large cluster of %d simulated nodes", *largeNodes), func() error {
			return runLarge(ctx, r, *binary, *largeNodes, *largePods)
		})
	}
	if *schedNodes > 0 {
		phase(fmt.Sprintf("scheduler alone on %d nodes", *schedNodes), func() error {
			counts, err := parseCounts(*schedPerfPods)
			if err == nil {
				err = runSchedPerf(ctx, r, *binary, *schedNodes, counts, *schedPrecreated)
			}
			return err
		})
	}
	switch {
	case *podStartup && skip != "":
		fmt.Fprintln(os.Stderr, "bench: pod startup:", skip)
		os.Exit(1)
	case *podStartup:
		o := startupOptions{pods: *startupPods, burst: *startupBurst, rssPods: *rssPods, standalone: *standalone}
		if err := runPodStartup(ctx, r, *binary, o); err != nil {
			fmt.Fprintln(os.Stderr, "bench: pod startup:", err)
			os.Exit(1)
		}
	default:
		reason := skip
		if reason == "" {
			reason = "-pod-startup=false"
		}
		fmt.Println("bench: pod startup skipped:", reason)
	}
	if err := r.write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s\n", *out)
	if failed {
		os.Exit(1)
	}
}

func run(ctx context.Context, r *report, binary string, pods, listPods, watchers int) error {
	srv, err := startServer(ctx, binary)
	if err != nil {
		return err
	}
	defer srv.stop()

	idle, err := srv.idleRSS(ctx)
	if err != nil {
		return err
	}
	r.add("Idle RSS of `corral server --disable-agent` (after bootstrap, 10 s idle)", fmt.Sprintf("%.1f MB", idle), "")

	valueSize, err := podValueSize()
	if err != nil {
		return err
	}
	floor, err := etcdFloor(ctx, valueSize, []int{1, 16, 64}, pods)
	if err != nil {
		return err
	}
	for _, conc := range []int{1, 16, 64} {
		res, err := createPods(ctx, srv.config, fmt.Sprintf("bench-c%d", conc), conc, pods)
		if err != nil {
			return err
		}
		f := floor[conc]
		r.addRow(fmt.Sprintf("pod creates, %d client(s)", conc), res, f)
	}
	lr, err := listLatency(ctx, srv.config, listPods)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("LIST of %d pods in one namespace (JSON, full list, median of %d)", listPods, lr.samples),
		fmt.Sprintf("p50 %s, p99 %s", ms(lr.p50), ms(lr.p99)), "")
	r.add(fmt.Sprintf("LIST of %d pods, protobuf, limit=500 pages (median whole walk)", listPods),
		fmt.Sprintf("p50 %s", ms(lr.pagedP50)), "")
	wr, err := watchFanout(ctx, srv.config, watchers, 200)
	if err != nil {
		return err
	}
	r.add(fmt.Sprintf("watch fan-out: %d watchers, %d pod creates", watchers, wr.events),
		fmt.Sprintf("all %d deliveries in %s; delivery latency p50 %s, p99 %s", wr.deliveries, wr.total.Round(time.Millisecond), ms(wr.p50), ms(wr.p99)), "")
	busy, err := srv.rss()
	if err == nil {
		r.add(fmt.Sprintf("RSS after the run (%d+ pods stored, watch cache warm)", listPods+3*pods), fmt.Sprintf("%.1f MB", busy), "")
	}
	return nil
}

// runCluster measures the control plane with simulated nodes on a fresh
// server: scheduling throughput, deployments to Running, node death.
func runCluster(ctx context.Context, r *report, binary string, nodes, schedPods, replicas, rounds int) error {
	srv, err := startServer(ctx, binary)
	if err != nil {
		return err
	}
	defer srv.stop()
	sr, stopNodes, err := scheduleThroughput(ctx, srv, nodes, schedPods)
	if stopNodes != nil {
		defer stopNodes()
	}
	if err != nil {
		return err
	}
	r.cluster("scheduling: pending pods bound after the nodes' hold taint is lifted",
		fmt.Sprintf("%d pods on %d nodes in %s = %.0f pods/s (lifting the taints took %s)", sr.pods, sr.nodes,
			sr.binding.Round(time.Millisecond), float64(sr.pods)/sr.binding.Seconds(), sr.untaint.Round(time.Millisecond)))
	per := replicas / 10
	dr, err := deploymentsToRunning(ctx, srv, 10, per)
	if err != nil {
		return err
	}
	r.cluster(fmt.Sprintf("10 Deployments totalling %d replicas, from create to all Ready (as the Deployments count them) on %d nodes", 10*per, nodes),
		fmt.Sprintf("%s (%.0f pods/s)", dr.took.Round(time.Millisecond), float64(10*per)/dr.took.Seconds()))
	p50, p99 := percentiles(dr.probe)
	r.cluster("meanwhile: a side client's ConfigMap updates, one per 100 ms",
		fmt.Sprintf("%d writes, p50 %s, p99 %s, %d failed", len(dr.probe), ms(p50), ms(p99), dr.probeErrs))
	bound := ""
	if !dr.serverP99Exact {
		bound = " or more (past the largest bucket)"
	}
	r.cluster("meanwhile: p99 of every mutating request (POST/PUT/PATCH/DELETE) from the server's apiserver_request_duration_seconds",
		fmt.Sprintf("%s%s over %d requests (%d more turned away with 429 by the in-flight limits)", ms(dr.serverP99), bound, dr.serverRequests, dr.rejected))
	r.cluster("meanwhile: live nodes taken for dead (NotReady), sampled every 5 s",
		fmt.Sprintf("at most %d of %d at once; %d node-samples NotReady in all; %d pods evicted from them", dr.notReadyMax, nodes, dr.notReadySamples, dr.evicted))
	deaths, err := nodeDeath(ctx, srv, rounds)
	if err != nil {
		return err
	}
	d50, d99 := percentiles(deaths)
	r.cluster(fmt.Sprintf("node death to all its pods Running elsewhere (30 replicas on 3 nodes, %d rounds)", len(deaths)),
		fmt.Sprintf("p50 %s, p99 %s", d50.Round(100*time.Millisecond), d99.Round(100*time.Millisecond)))
	if mem, err := srv.memory(ctx); err == nil {
		r.cluster(fmt.Sprintf("server RSS with %d nodes and %d pods", nodes+3*rounds, schedPods+10*per+30*rounds), mem)
	}
	return nil
}
