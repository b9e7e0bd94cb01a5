// Command bench measures corral against the floor of this machine and
// writes the figures to docs/benchmarks.md (make bench).
//
// Every figure is a ratio measured in one run: corral's API (a real
// `corral server --disable-agent` subprocess on embedded etcd) against raw
// etcd puts of the same value size on a fresh embedded etcd in this
// process, on the same disk. Load is bounded in count and time and goes to
// loopback only.
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
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	r := &report{started: time.Now(), command: "make bench (go run ./bench " + strings.Join(os.Args[1:], " ") + ")"}
	if err := run(ctx, r, *binary, *pods, *listPods, *watchers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if err := r.write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s\n", *out)
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
