package cri

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"corral/agent/stats"
)

var _ stats.Source = (*Runtime)(nil)

// userHZ is the unit of /proc/stat's counters (USER_HZ, 100 on Linux).
const userHZ = 100

// Read reports the cumulative CPU time and the memory of the node (from
// /proc) and of each running container (ListContainerStats) grouped by
// ready sandbox; each pod's own figures come from ListPodSandboxStats
// where the runtime implements it (the pod cgroup, pause included), else
// the stats package sums the containers'. The node's file systems and
// task count (hostStats) are the agent's pressure signals.
func (r *Runtime) Read(ctx context.Context) (*stats.Reading, error) {
	now := r.opts.Clock.Now()
	out := &stats.Reading{}
	if usage, err := procCPUUsage("/proc/stat"); err == nil {
		out.Node.CPU = &stats.CPUPoint{Time: now, UsageCoreNanoSeconds: usage}
	} else {
		return nil, err
	}
	mem, err := procMemory("/proc/meminfo", now)
	if err != nil {
		return nil, err
	}
	out.Node.Memory = mem
	r.hostStats(ctx, &out.Node, now)

	cctx, cancel := r.call(ctx)
	defer cancel()
	sresp, err := r.rt.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}})
	if err != nil {
		return nil, fmt.Errorf("ListPodSandbox: %w", err)
	}
	cresp, err := r.rt.ListContainers(cctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return nil, fmt.Errorf("ListContainers: %w", err)
	}
	csresp, err := r.rt.ListContainerStats(cctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListContainerStats: %w", err)
	}
	podStats := r.sandboxStats(cctx)

	pods := map[string]*stats.PodReading{} // by sandbox ID
	for _, s := range sresp.Items {
		uid := s.Labels[LabelPodUID]
		if uid == "" || s.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue // not a pod of the agent's, or not running
		}
		p := &stats.PodReading{Ref: stats.PodReference{Name: s.Labels[LabelPodName], Namespace: s.Labels[LabelPodNamespace], UID: uid},
			StartTime: time.Unix(0, s.CreatedAt)}
		if ps := podStats[s.Id]; ps != nil {
			p.CPU, p.Memory = cpuPoint(ps.GetCpu(), now), memoryStats(ps.GetMemory(), now)
		}
		pods[s.Id] = p
	}
	byID := make(map[string]*runtimeapi.ContainerStats, len(csresp.Stats))
	for _, st := range csresp.Stats {
		byID[st.GetAttributes().GetId()] = st
	}
	for _, c := range cresp.Containers {
		p := pods[c.PodSandboxId]
		if p == nil || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		cr := stats.ContainerReading{ID: ContainerPrefix + "://" + c.Id, Name: c.GetMetadata().GetName(), StartTime: time.Unix(0, c.CreatedAt)}
		if st := byID[c.Id]; st != nil {
			cr.CPU, cr.Memory = cpuPoint(st.Cpu, now), memoryStats(st.Memory, now)
		}
		p.Containers = append(p.Containers, cr)
	}
	out.Pods = make([]stats.PodReading, 0, len(pods))
	for _, p := range pods {
		sort.Slice(p.Containers, func(i, j int) bool { return p.Containers[i].Name < p.Containers[j].Name })
		out.Pods = append(out.Pods, *p)
	}
	sort.Slice(out.Pods, func(i, j int) bool {
		a, b := out.Pods[i].Ref, out.Pods[j].Ref
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

// sandboxStats is each sandbox's own usage by sandbox ID, or nil when
// the runtime cannot say (containerd 1.6 implements the RPC, but any
// failure only costs the pod-level figures).
func (r *Runtime) sandboxStats(ctx context.Context) map[string]*runtimeapi.LinuxPodSandboxStats {
	resp, err := r.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil {
		if status.Code(err) != codes.Unimplemented {
			klog.FromContext(ctx).V(2).Info("ListPodSandboxStats failed; summing containers instead", "err", err)
		}
		return nil
	}
	out := make(map[string]*runtimeapi.LinuxPodSandboxStats, len(resp.Stats))
	for _, s := range resp.Stats {
		if s.GetLinux() != nil {
			out[s.GetAttributes().GetId()] = s.Linux
		}
	}
	return out
}

// stamp is a CRI timestamp, or now when the runtime gave none.
func stamp(ns int64, now time.Time) time.Time {
	if ns <= 0 {
		return now
	}
	return time.Unix(0, ns)
}

func cpuPoint(c *runtimeapi.CpuUsage, now time.Time) *stats.CPUPoint {
	if c == nil || c.UsageCoreNanoSeconds == nil {
		return nil
	}
	return &stats.CPUPoint{Time: stamp(c.Timestamp, now), UsageCoreNanoSeconds: c.UsageCoreNanoSeconds.Value}
}

func memoryStats(m *runtimeapi.MemoryUsage, now time.Time) *stats.MemoryStats {
	if m == nil || m.WorkingSetBytes == nil {
		return nil
	}
	v := func(x *runtimeapi.UInt64Value) *uint64 {
		if x == nil {
			return nil
		}
		n := x.Value
		return &n
	}
	return &stats.MemoryStats{Time: stamp(m.Timestamp, now), WorkingSetBytes: v(m.WorkingSetBytes),
		AvailableBytes: v(m.AvailableBytes), UsageBytes: v(m.UsageBytes), RSSBytes: v(m.RssBytes)}
}

// procCPUUsage is the CPU time all cores spent busy (everything but idle
// and iowait) in nanoseconds, from the "cpu" line of /proc/stat.
func procCPUUsage(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 || fields[0] != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal (guest time is
		// already counted in user).
		var busy uint64
		for i, f := range fields[1:min(len(fields), 9)] {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", path, err)
			}
			if i != 3 && i != 4 {
				busy += n
			}
		}
		return busy * (1e9 / userHZ), nil
	}
	return 0, fmt.Errorf("%s has no cpu line", path)
}

// procMemory reads /proc/meminfo: usage is what is not free, the working
// set is usage less the inactive file cache (which the kernel reclaims
// first), as kubelet computes it from the root cgroup; available is the
// capacity less the working set, kubelet's memory.available eviction
// signal (not the kernel's MemAvailable estimate).
func procMemory(path string, now time.Time) (*stats.MemoryStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]uint64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		switch key := strings.TrimSuffix(fields[0], ":"); key {
		case "MemTotal", "MemFree", "Inactive(file)":
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, key, err)
			}
			vals[key] = kb * 1024
		}
	}
	total, ok := vals["MemTotal"]
	if !ok {
		return nil, errors.New(path + " has no MemTotal")
	}
	usage := total - min(total, vals["MemFree"])
	ws := usage - min(usage, vals["Inactive(file)"])
	avail := total - ws
	return &stats.MemoryStats{Time: now, UsageBytes: &usage, WorkingSetBytes: &ws, AvailableBytes: &avail}, nil
}
