package stats

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeSource returns its readings in turn.
type fakeSource struct {
	readings []*Reading
	err      error
}

func (f *fakeSource) Read(context.Context) (*Reading, error) {
	if f.err != nil {
		return nil, f.err
	}
	r := f.readings[0]
	f.readings = f.readings[1:]
	return r, nil
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func cpuAt(sec float64, usage uint64) *CPUPoint {
	return &CPUPoint{Time: t0.Add(time.Duration(sec * float64(time.Second))), UsageCoreNanoSeconds: usage}
}

func u(v uint64) *uint64 { return &v }

func TestCPURate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prev, cur  *CPUPoint
		wantRate   *uint64
		wantWindow time.Duration
	}{
		{name: "first sample has no rate", cur: cpuAt(10, 5e9)},
		{name: "half a core over 10s", prev: cpuAt(0, 1e9), cur: cpuAt(10, 6e9), wantRate: u(5e8), wantWindow: 10 * time.Second},
		{name: "two cores over 500ms", prev: cpuAt(1, 0), cur: cpuAt(1.5, 1e9), wantRate: u(2e9), wantWindow: 500 * time.Millisecond},
		{name: "idle", prev: cpuAt(0, 7), cur: cpuAt(10, 7), wantRate: u(0), wantWindow: 10 * time.Second},
		{name: "counter reset starts over", prev: cpuAt(0, 9e9), cur: cpuAt(10, 1e9)},
		{name: "same timestamp again", prev: cpuAt(10, 1e9), cur: cpuAt(10, 1e9)},
		{name: "large values do not overflow", prev: cpuAt(0, 1<<62), cur: cpuAt(10, 1<<62+4e10), wantRate: u(4e9), wantWindow: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSampler(Options{})
			if tc.prev != nil {
				s.prev["k"] = *tc.prev
			}
			next := map[string]CPUPoint{}
			got := s.cpu("k", tc.cur, next)
			if *got.UsageCoreNanoSeconds != tc.cur.UsageCoreNanoSeconds || !got.Time.Equal(tc.cur.Time) {
				t.Errorf("cumulative %d at %v, want %d at %v", *got.UsageCoreNanoSeconds, got.Time, tc.cur.UsageCoreNanoSeconds, tc.cur.Time)
			}
			switch {
			case tc.wantRate == nil && got.UsageNanoCores != nil:
				t.Errorf("rate %d, want none", *got.UsageNanoCores)
			case tc.wantRate != nil && (got.UsageNanoCores == nil || *got.UsageNanoCores != *tc.wantRate):
				t.Errorf("rate %v, want %d", got.UsageNanoCores, *tc.wantRate)
			case tc.wantRate != nil && got.Window.Duration != tc.wantWindow:
				t.Errorf("window %v, want %v", got.Window.Duration, tc.wantWindow)
			}
			if _, ok := next["k"]; !ok {
				t.Error("point not kept for the next sample")
			}
		})
	}
}

func pod(name string, cpu *CPUPoint, containers ...ContainerReading) PodReading {
	return PodReading{Ref: PodReference{Name: name, Namespace: "ns", UID: "uid-" + name}, CPU: cpu, Containers: containers}
}

func ctr(id string, cpu *CPUPoint, ws uint64) ContainerReading {
	return ContainerReading{ID: id, Name: "c-" + id, CPU: cpu, Memory: &MemoryStats{Time: cpu.Time, WorkingSetBytes: u(ws)}}
}

func TestSamplerSummaries(t *testing.T) {
	fc := testingclock.NewFakeClock(t0)
	mem := &MemoryStats{Time: t0, WorkingSetBytes: u(1 << 30)}
	src := &fakeSource{readings: []*Reading{
		{Node: NodeReading{CPU: cpuAt(0, 100e9), Memory: mem}, Pods: []PodReading{
			pod("a", nil, ctr("1", cpuAt(0, 1e9), 10), ctr("2", cpuAt(0, 0), 20)),
			pod("gone", nil, ctr("9", cpuAt(0, 0), 1)),
		}},
		{Node: NodeReading{CPU: cpuAt(10, 110e9), Memory: mem}, Pods: []PodReading{
			pod("a", nil, ctr("1", cpuAt(10, 3e9), 30), ctr("2", cpuAt(10, 1e9), 40)),
			// pod-level stats from the runtime win over the sum.
			pod("b", cpuAt(10, 5e9), ctr("3", cpuAt(10, 5e9), 5)),
		}},
		{Node: NodeReading{CPU: cpuAt(20, 115e9), Memory: mem}, Pods: []PodReading{
			pod("b", cpuAt(20, 6e9), ctr("3", cpuAt(20, 6e9), 5)),
			// a container seen for the first time has no rate yet, so neither has its pod.
			pod("a", nil, ctr("1", cpuAt(20, 4e9), 30), ctr("new", cpuAt(20, 0), 1)),
		}},
	}}
	s := NewSampler(Options{NodeName: "n1", Source: src, Clock: fc})
	if sum, _, _ := s.Summary(); sum != nil {
		t.Fatal("summary before the first sample")
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/stats/summary", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("summary before sampling: %d, want 503", rec.Code)
	}

	ctx := context.Background()
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	sum, _, _ := s.Summary()
	if sum.Node.NodeName != "n1" || sum.Node.CPU.UsageNanoCores != nil || *sum.Node.Memory.WorkingSetBytes != 1<<30 {
		t.Errorf("first node stats %+v", sum.Node)
	}
	if p := sum.Pods[0]; p.CPU.UsageNanoCores != nil || *p.Memory.WorkingSetBytes != 30 || *p.CPU.UsageCoreNanoSeconds != 1e9 {
		t.Errorf("first pod stats cpu %+v mem %+v", p.CPU, p.Memory)
	}

	fc.Step(10 * time.Second)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	sum, sampled, _ := s.Summary()
	if !sampled.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("sampled at %v", sampled)
	}
	if r := sum.Node.CPU.UsageNanoCores; r == nil || *r != 1e9 {
		t.Errorf("node rate %v, want one core", r)
	}
	a, b := sum.Pods[0], sum.Pods[1]
	if *a.Containers[0].CPU.UsageNanoCores != 2e8 || *a.Containers[1].CPU.UsageNanoCores != 1e8 {
		t.Errorf("container rates %d %d", *a.Containers[0].CPU.UsageNanoCores, *a.Containers[1].CPU.UsageNanoCores)
	}
	if *a.CPU.UsageNanoCores != 3e8 || a.CPU.Window.Duration != 10*time.Second || *a.CPU.UsageCoreNanoSeconds != 4e9 || *a.Memory.WorkingSetBytes != 70 {
		t.Errorf("pod a sums: cpu %+v mem %+v", a.CPU, a.Memory)
	}
	if b.CPU.UsageNanoCores != nil || *b.CPU.UsageCoreNanoSeconds != 5e9 {
		t.Errorf("pod b first seen: cpu %+v", b.CPU)
	}

	fc.Step(10 * time.Second)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	sum, _, _ = s.Summary()
	b, a = sum.Pods[0], sum.Pods[1]
	if *b.CPU.UsageNanoCores != 1e8 {
		t.Errorf("pod b rate %v, want the pod-level one", *b.CPU.UsageNanoCores)
	}
	if a.CPU.UsageNanoCores != nil || a.Containers[0].CPU.UsageNanoCores == nil || a.Containers[1].CPU.UsageNanoCores != nil {
		t.Errorf("pod a with a new container: pod rate %v", a.CPU.UsageNanoCores)
	}
	if _, ok := s.prev["container/9"]; ok {
		t.Error("the gone pod's point is still kept")
	}

	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/stats/summary", nil))
	var decoded Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &decoded); err != nil || rec.Code != 200 {
		t.Fatalf("summary: %d %v %s", rec.Code, err, rec.Body)
	}
	if len(decoded.Pods) != 2 || *decoded.Pods[0].CPU.UsageNanoCores != 1e8 || decoded.Pods[0].CPU.Window.Duration != 10*time.Second {
		t.Errorf("decoded %+v", decoded.Pods)
	}

	// A failing read keeps the last summary and reports the error.
	src.err = errors.New("runtime down")
	if err := s.Sample(ctx); err == nil {
		t.Fatal("want the source's error")
	}
	if sum, _, err := s.Summary(); sum == nil || err == nil {
		t.Errorf("after a failed read: summary %v err %v", sum != nil, err)
	}
}

func TestMetrics(t *testing.T) {
	fc := testingclock.NewFakeClock(t0)
	src := &fakeSource{readings: []*Reading{{
		Node: NodeReading{CPU: cpuAt(0, 2500e6), Memory: &MemoryStats{Time: t0, WorkingSetBytes: u(4096)}},
		Pods: []PodReading{pod("a", nil, ctr("1", cpuAt(0, 1500e6), 100), ctr("2", cpuAt(0, 500e6), 200))},
	}}}
	s := NewSampler(Options{NodeName: "n1", Source: src, Clock: fc})
	reg := NewRegistry(s)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
`), "scrape_error"); err != nil {
		t.Error(err)
	}
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="c-1",namespace="ns",pod="a"} 1.5 1767225600000
container_cpu_usage_seconds_total{container="c-2",namespace="ns",pod="a"} 0.5 1767225600000
# HELP container_memory_working_set_bytes Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="c-1",namespace="ns",pod="a"} 100 1767225600000
container_memory_working_set_bytes{container="c-2",namespace="ns",pod="a"} 200 1767225600000
# HELP corral_agent_running_pods Number of pods with a running sandbox on the node
# TYPE corral_agent_running_pods gauge
corral_agent_running_pods 1
# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 2.5 1767225600000
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 4096 1767225600000
# HELP pod_cpu_usage_seconds_total Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="ns",pod="a"} 2 1767225600000
# HELP pod_memory_working_set_bytes Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="ns",pod="a"} 300 1767225600000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "container_cpu_usage_seconds_total",
		"container_memory_working_set_bytes", "corral_agent_running_pods", "node_cpu_usage_seconds_total",
		"node_memory_working_set_bytes", "pod_cpu_usage_seconds_total", "pod_memory_working_set_bytes"); err != nil {
		t.Error(err)
	}
	// The Go and process collectors are there too (the agent's RSS).
	if n, err := testutil.GatherAndCount(reg, "process_resident_memory_bytes", "go_goroutines"); err != nil || n != 2 {
		t.Errorf("process and Go metrics: %d %v", n, err)
	}
	rec := httptest.NewRecorder()
	MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `container_cpu_usage_seconds_total{container="c-1",namespace="ns",pod="a"} 1.5`) {
		t.Errorf("/metrics: %d\n%s", rec.Code, rec.Body)
	}
}

// TestHostSignalsPassedOn: file systems and task counts reach the summary
// as read, and OnSample sees each good summary (the agent's pressure).
func TestHostSignalsPassedOn(t *testing.T) {
	fs := &FsStats{Time: t0, AvailableBytes: u(10), CapacityBytes: u(100)}
	img := &FsStats{Time: t0, AvailableBytes: u(20), CapacityBytes: u(200)}
	maxPID, tasks := int64(32768), int64(231)
	rl := &RlimitStats{Time: t0, MaxPID: &maxPID, NumOfRunningProcesses: &tasks}
	src := &fakeSource{readings: []*Reading{
		{Node: NodeReading{CPU: cpuAt(0, 1), Fs: fs, ImageFs: img, Rlimit: rl}},
		{Node: NodeReading{CPU: cpuAt(10, 2)}},
	}}
	var seen []*Summary
	s := NewSampler(Options{NodeName: "n1", Source: src, Clock: testingclock.NewFakeClock(t0),
		OnSample: func(sum *Summary) { seen = append(seen, sum) }})
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, _, _ := s.Summary()
	if sum.Node.Fs != fs || sum.Node.Runtime == nil || sum.Node.Runtime.ImageFs != img || sum.Node.Rlimit != rl {
		t.Errorf("node %+v", sum.Node)
	}
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum, _, _ = s.Summary()
	if sum.Node.Fs != nil || sum.Node.Runtime != nil || sum.Node.Rlimit != nil {
		t.Errorf("signals not read are absent: %+v", sum.Node)
	}
	src.err = errors.New("down")
	_ = s.Sample(context.Background())
	if len(seen) != 2 || seen[1] != sum {
		t.Errorf("OnSample saw %d summaries, want the 2 good ones", len(seen))
	}
	b, _ := json.Marshal(seen[0].Node)
	for _, want := range []string{`"fs":{`, `"runtime":{"imageFs":{`, `"rlimit":{`, `"maxpid":32768`, `"curproc":231`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("summary JSON %s lacks %s", b, want)
		}
	}
}
