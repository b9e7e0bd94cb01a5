package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/test/hostclean"
)

// startupOptions size the pod-startup benchmark (issue C).
type startupOptions struct {
	pods       int  // samples per mode (serial, burst), at least
	burst      int  // pods created at once in burst mode
	rssPods    int  // running pods for the RSS figures
	standalone bool // also measure a standalone `corral agent`
}

// podStartupSkip says why this machine cannot run the benchmark ("" when
// it can): it needs root, containerd, runc, the CNI plugins and busybox.
func podStartupSkip() string {
	if os.Geteuid() != 0 {
		return "needs root (containerd, CNI, cgroups)"
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/sbin/runc", "/usr/lib/cni/bridge", "/bin/busybox"} {
		if _, err := os.Stat(p); err != nil {
			return p + " is missing: run scripts/install-deps.sh as root"
		}
	}
	return ""
}

// startupRun is one run: a real cluster, the watches on its namespaces,
// and the floor on the node's containerd.
type startupRun struct {
	o        startupOptions
	dir      string
	c        *realCluster
	agent    *proc
	rt       runtimeapi.RuntimeServiceClient
	closeCRI func()
	floor    *criFloor
	trackers []*tracker
}

// runPodStartup measures create→Running through corral against the raw
// CRI floor, and the RSS of the server and of a standalone agent. It
// holds the e2e machine lock throughout and leaves nothing behind.
func runPodStartup(ctx context.Context, r *report, binary string, o startupOptions) (err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	release, err := machineLock(ctx)
	if err != nil {
		return err
	}
	defer release()
	host := snapshotHost([]string{psClusterCIDR, psServiceCIDR}, []string{psBridge, psAgentBridge, psServiceSink})
	dir, err := os.MkdirTemp("", "corral-bench-ps-")
	if err != nil {
		return err
	}
	s := &startupRun{o: o, dir: dir}
	defer func() { s.cleanup(host, err != nil) }()

	loadBefore := loadAvg()
	step := func(what string) { fmt.Printf("pod startup: %s (%s)\n", what, time.Now().Format("15:04:05")) }
	step("starting corral server with its node agent")
	if s.c, err = startRealCluster(ctx, binary, dir); err != nil {
		return err
	}
	var img runtimeapi.ImageServiceClient
	if s.rt, img, s.closeCRI, err = dialCRI(s.c.criSocket); err != nil {
		return err
	}
	if s.floor, err = newCRIFloor(ctx, s.rt, img, filepath.Join(dir, "floor-logs")); err != nil {
		return err
	}
	ver, err := s.rt.Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return err
	}
	rep := &startupReport{runtime: ver.RuntimeName + " " + ver.RuntimeVersion, o: o, loadBefore: loadBefore}

	step("idle RSS (10 s)")
	if err := sleep(ctx, 10*time.Second); err != nil {
		return err
	}
	rep.serverRSS[0], _ = s.c.server.rss()
	rep.serverCtrdRSS[0], _ = s.c.server.containerdRSS()

	ns := "bench-startup"
	t, err := s.tracker(ctx, ns)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("corral: %d pods one at a time", o.pods))
	for i := 0; i < o.pods; i++ {
		ps, err := t.createAndWait(ctx, s.c.client, ns, "", []string{fmt.Sprintf("s-%03d", i)}, 2*time.Minute)
		if err != nil {
			return err
		}
		rep.corralSerial = append(rep.corralSerial, ps...)
	}
	if err := s.settle(ctx, ns, rep.corralSerial); err != nil {
		return err
	}
	step(fmt.Sprintf("floor: %d pods one at a time", o.pods))
	for i := 0; i < o.pods; i++ {
		ps, err := s.floor.run(ctx, []string{fmt.Sprintf("floor-s-%03d", i)})
		if err != nil {
			return err
		}
		rep.floorSerial = append(rep.floorSerial, ps...)
	}
	if err := s.settleFloor(ctx); err != nil {
		return err
	}
	step(fmt.Sprintf("corral: bursts of %d pods", o.burst))
	for b := 0; len(rep.corralBurst) < o.pods; b++ {
		ps, err := t.createAndWait(ctx, s.c.client, ns, "", names(fmt.Sprintf("b%d-", b), o.burst), 3*time.Minute)
		if err != nil {
			return err
		}
		rep.corralBurst = append(rep.corralBurst, ps...)
		if err := s.settle(ctx, ns, ps); err != nil {
			return err
		}
	}
	step(fmt.Sprintf("floor: bursts of %d pods", o.burst))
	for b := 0; len(rep.floorBurst) < o.pods; b++ {
		ps, err := s.floor.run(ctx, names(fmt.Sprintf("floor-b%d-", b), o.burst))
		if err != nil {
			return err
		}
		rep.floorBurst = append(rep.floorBurst, ps...)
		if err := s.settleFloor(ctx); err != nil {
			return err
		}
	}

	if o.rssPods > 0 {
		step(fmt.Sprintf("server RSS with %d pods", o.rssPods))
		if rep.serverRSS[1], rep.serverCtrdRSS[1], err = s.rssWithPods(ctx, s.c.server, s.rt, "bench-rss", ""); err != nil {
			return err
		}
	}
	if o.standalone {
		step("standalone corral agent")
		if err := s.measureAgent(ctx, binary, rep); err != nil {
			return err
		}
	}
	r.startup = rep
	return nil
}

// loadAvg is the 1-minute load average: read before the run, it shows
// other work on the machine (the figures are only as quiet as it was).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *startupRun) tracker(ctx context.Context, ns string) (*tracker, error) {
	if err := startupNamespace(ctx, s.c.client, ns); err != nil {
		return nil, err
	}
	t, err := newTracker(ctx, s.c.client, ns)
	if err == nil {
		s.trackers = append(s.trackers, t)
	}
	return t, err
}

// settle reads containerd's timestamps of the pods, then deletes them and
// waits until they are gone, so the next phase starts on an idle node.
func (s *startupRun) settle(ctx context.Context, ns string, pods []*podTimes) error {
	if err := addRuntimeTimes(ctx, s.rt, pods); err != nil {
		return err
	}
	if err := deletePods(ctx, s.c.client, s.rt, ns); err != nil {
		return fmt.Errorf("deleting the pods of %s: %w", ns, err)
	}
	return sleep(ctx, 2*time.Second)
}

// settleFloor removes the floor's pods and pauses as settle does.
func (s *startupRun) settleFloor(ctx context.Context) error {
	if err := s.floor.teardown(ctx); err != nil {
		return err
	}
	return sleep(ctx, 2*time.Second)
}

// rssWithPods starts rssPods pods in ns on node (the scheduler's choice
// when empty), reads the RSS of p and of its containerd after 10 s, then
// deletes the pods.
func (s *startupRun) rssWithPods(ctx context.Context, p *proc, rt runtimeapi.RuntimeServiceClient, ns, node string) (float64, float64, error) {
	t, err := s.tracker(ctx, ns)
	if err != nil {
		return 0, 0, err
	}
	if _, err := t.createAndWait(ctx, s.c.client, ns, node, names("r-", s.o.rssPods), 5*time.Minute); err != nil {
		return 0, 0, err
	}
	if err := sleep(ctx, 10*time.Second); err != nil {
		return 0, 0, err
	}
	rss, err := p.rss()
	if err != nil {
		return 0, 0, err
	}
	ctrd, err := p.containerdRSS()
	if err != nil {
		return 0, 0, err
	}
	return rss, ctrd, deletePods(ctx, s.c.client, rt, ns)
}

// measureAgent joins a standalone agent (its own data dir, containerd,
// bridge), and reads its RSS idle and with rssPods pods bound to it.
func (s *startupRun) measureAgent(ctx context.Context, binary string, rep *startupReport) error {
	a, node, err := s.c.startAgent(ctx, binary, s.dir, filepath.Join(s.dir, "node2"))
	if err != nil {
		return err
	}
	s.agent = a
	if err := sleep(ctx, 10*time.Second); err != nil {
		return err
	}
	rep.agentRSS[0], _ = a.rss()
	rep.agentCtrdRSS[0], _ = a.containerdRSS()
	rep.hasAgent = true
	if s.o.rssPods == 0 {
		return nil
	}
	rt, _, done, err := dialCRI(filepath.Join(a.agentDir, "containerd", "containerd.sock"))
	if err != nil {
		return err
	}
	defer done()
	rep.agentRSS[1], rep.agentCtrdRSS[1], err = s.rssWithPods(ctx, a, rt, "bench-agent-rss", node)
	return err
}

// cleanup deletes the pods while the agents run (they remove their
// sandboxes and cgroups), tears the floor down, stops the agent and the
// server, then removes what outlives them: processes naming the data
// dir, pod cgroups, mounts, the bridges, routes and CNI chains the run
// added.
func (s *startupRun) cleanup(host *hostState, failed bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var uids []string
	for _, t := range s.trackers {
		t.stop()
		uids = append(uids, t.uids()...)
	}
	if s.c != nil {
		for _, t := range s.trackers {
			_ = deletePodsAPI(ctx, s.c.client, t.ns)
		}
	}
	if s.floor != nil {
		if err := s.floor.teardown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pod startup cleanup: floor:", err)
		}
	}
	if s.closeCRI != nil {
		s.closeCRI()
	}
	if failed && s.c != nil {
		fmt.Fprintf(os.Stderr, "pod startup: server log tail:\n%s\n", s.c.server.tail())
	}
	s.agent.stop()
	if s.c != nil {
		s.c.server.stop()
	}
	rels := []string{floorCgroup}
	for _, uid := range uids {
		rels = append(rels, hostclean.PodCgroup(uid))
	}
	if left := hostclean.RemoveCgroups(rels); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "pod startup cleanup: cgroups left:", left)
	}
	hostclean.UnmountUnder(s.dir)
	host.restore(s.dir)
	time.Sleep(200 * time.Millisecond)
	if left := hostclean.PIDsMentioning(s.dir); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "pod startup cleanup: processes left:", left)
	}
	if left := hostclean.MountsUnder(s.dir); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "pod startup cleanup: mounts left:", left)
	}
	if os.Getenv("CORRAL_BENCH_KEEP") == "" {
		_ = os.RemoveAll(s.dir)
	} else {
		fmt.Println("pod startup: kept", s.dir)
	}
}
