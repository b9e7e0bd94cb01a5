package cri

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// statsCRI answers the listing and stats RPCs with fixed content.
type statsCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	sandboxes    []*runtimeapi.PodSandbox
	containers   []*runtimeapi.Container
	stats        []*runtimeapi.ContainerStats
	sandboxStats []*runtimeapi.PodSandboxStats // nil: Unimplemented
}

func (f *statsCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "fake", RuntimeVersion: "1"}, nil
}
func (f *statsCRI) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: f.sandboxes}, nil
}
func (f *statsCRI) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: f.containers}, nil
}
func (f *statsCRI) ListContainerStats(context.Context, *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	return &runtimeapi.ListContainerStatsResponse{Stats: f.stats}, nil
}
func (f *statsCRI) ListPodSandboxStats(context.Context, *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	if f.sandboxStats == nil {
		return nil, status.Error(codes.Unimplemented, "no")
	}
	return &runtimeapi.ListPodSandboxStatsResponse{Stats: f.sandboxStats}, nil
}

func u64(v uint64) *runtimeapi.UInt64Value { return &runtimeapi.UInt64Value{Value: v} }

func TestReadGroupsRunningContainersBySandbox(t *testing.T) {
	podLabels := func(name, uid string) map[string]string {
		return map[string]string{LabelPodName: name, LabelPodNamespace: "ns", LabelPodUID: uid}
	}
	cpu := func(ts int64, v uint64) *runtimeapi.CpuUsage {
		return &runtimeapi.CpuUsage{Timestamp: ts, UsageCoreNanoSeconds: u64(v)}
	}
	mem := func(ts int64, v uint64) *runtimeapi.MemoryUsage {
		return &runtimeapi.MemoryUsage{Timestamp: ts, WorkingSetBytes: u64(v), UsageBytes: u64(v + 1)}
	}
	ready, notReady := runtimeapi.PodSandboxState_SANDBOX_READY, runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	running, exited := runtimeapi.ContainerState_CONTAINER_RUNNING, runtimeapi.ContainerState_CONTAINER_EXITED
	for _, tc := range []struct {
		name         string
		sandboxStats []*runtimeapi.PodSandboxStats
		wantPodCPU   bool
	}{
		{name: "sandbox stats unimplemented"},
		{name: "sandbox stats", wantPodCPU: true, sandboxStats: []*runtimeapi.PodSandboxStats{{
			Attributes: &runtimeapi.PodSandboxAttributes{Id: "s1"},
			Linux:      &runtimeapi.LinuxPodSandboxStats{Cpu: cpu(5, 999), Memory: mem(5, 4096)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &statsCRI{
				sandboxes: []*runtimeapi.PodSandbox{
					{Id: "s1", State: ready, CreatedAt: 100, Labels: podLabels("a", "u1")},
					{Id: "s2", State: notReady, Labels: podLabels("old", "u2")},
					{Id: "s3", State: ready, Labels: map[string]string{"other": "tool"}},
				},
				containers: []*runtimeapi.Container{
					{Id: "c2", PodSandboxId: "s1", State: running, CreatedAt: 200, Metadata: &runtimeapi.ContainerMetadata{Name: "web"}},
					{Id: "c1", PodSandboxId: "s1", State: running, Metadata: &runtimeapi.ContainerMetadata{Name: "app"}},
					{Id: "c0", PodSandboxId: "s1", State: exited, Metadata: &runtimeapi.ContainerMetadata{Name: "app"}},
					{Id: "c3", PodSandboxId: "s2", State: exited, Metadata: &runtimeapi.ContainerMetadata{Name: "x"}},
				},
				stats: []*runtimeapi.ContainerStats{
					{Attributes: &runtimeapi.ContainerAttributes{Id: "c1"}, Cpu: cpu(10, 500), Memory: mem(10, 1024)},
					{Attributes: &runtimeapi.ContainerAttributes{Id: "c2"}, Cpu: cpu(0, 7), Memory: mem(11, 2048)},
					{Attributes: &runtimeapi.ContainerAttributes{Id: "c0"}, Cpu: cpu(10, 1)},
				},
				sandboxStats: tc.sandboxStats,
			}
			sock := filepath.Join(t.TempDir(), "cri.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			runtimeapi.RegisterRuntimeServiceServer(srv, f)
			go srv.Serve(l)
			t.Cleanup(srv.Stop)
			r := newTestRuntime(t, sock, nil)

			got, err := r.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Node.CPU == nil || got.Node.CPU.UsageCoreNanoSeconds == 0 || got.Node.Memory == nil || *got.Node.Memory.WorkingSetBytes == 0 {
				t.Errorf("node reading %+v: want CPU time and memory from /proc", got.Node)
			}
			if len(got.Pods) != 1 {
				t.Fatalf("pods %+v: want only the ready sandbox of a pod", got.Pods)
			}
			p := got.Pods[0]
			if p.Ref.Name != "a" || p.Ref.Namespace != "ns" || p.Ref.UID != "u1" || !p.StartTime.Equal(time.Unix(0, 100)) {
				t.Errorf("pod %+v", p)
			}
			if len(p.Containers) != 2 || p.Containers[0].Name != "app" || p.Containers[1].Name != "web" {
				t.Fatalf("containers %+v: want the running app and web, in name order", p.Containers)
			}
			app, web := p.Containers[0], p.Containers[1]
			if app.ID != "containerd://c1" || app.CPU.UsageCoreNanoSeconds != 500 || !app.CPU.Time.Equal(time.Unix(0, 10)) || *app.Memory.WorkingSetBytes != 1024 {
				t.Errorf("app %+v cpu %+v", app, app.CPU)
			}
			// No runtime timestamp: stamped with the read's time.
			if web.CPU.Time.Before(time.Now().Add(-time.Minute)) || !web.StartTime.Equal(time.Unix(0, 200)) {
				t.Errorf("web cpu time %v start %v", web.CPU.Time, web.StartTime)
			}
			if tc.wantPodCPU {
				if p.CPU == nil || p.CPU.UsageCoreNanoSeconds != 999 || p.Memory == nil || *p.Memory.WorkingSetBytes != 4096 {
					t.Errorf("pod-level %+v %+v: want the sandbox's stats", p.CPU, p.Memory)
				}
			} else if p.CPU != nil || p.Memory != nil {
				t.Errorf("pod-level %+v %+v: want none without sandbox stats", p.CPU, p.Memory)
			}
		})
	}
}

func TestProcParsers(t *testing.T) {
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat")
	// user nice system idle iowait irq softirq steal guest guest_nice
	os.WriteFile(stat, []byte("cpu  100 20 30 5000 40 5 6 7 50 0\ncpu0 50 10 15 2500 20 2 3 3 25 0\nintr 1 2\n"), 0o644)
	got, err := procCPUUsage(stat)
	if err != nil {
		t.Fatal(err)
	}
	// busy jiffies = 100+20+30+5+6+7 = 168, at 10ms each.
	if want := uint64(168 * 10_000_000); got != want {
		t.Errorf("cpu usage %d, want %d", got, want)
	}
	os.WriteFile(stat, []byte("intr 1 2\n"), 0o644)
	if _, err := procCPUUsage(stat); err == nil {
		t.Error("no cpu line: want an error")
	}

	meminfo := filepath.Join(dir, "meminfo")
	os.WriteFile(meminfo, []byte("MemTotal:       1000 kB\nMemFree:         300 kB\nMemAvailable:    600 kB\nActive(file):     50 kB\nInactive(file):  200 kB\n"), 0o644)
	now := time.Unix(42, 0)
	m, err := procMemory(meminfo, now)
	if err != nil {
		t.Fatal(err)
	}
	if *m.UsageBytes != 700*1024 || *m.WorkingSetBytes != 500*1024 || *m.AvailableBytes != 500*1024 || !m.Time.Equal(now) {
		t.Errorf("memory %+v usage %d ws %d", m, *m.UsageBytes, *m.WorkingSetBytes)
	}
	os.WriteFile(meminfo, []byte("MemFree: 3 kB\n"), 0o644)
	if _, err := procMemory(meminfo, now); err == nil {
		t.Error("no MemTotal: want an error")
	}
}
