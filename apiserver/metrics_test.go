package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"corral/agent/stats"
)

var metricsNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func u64p(v uint64) *uint64 { return &v }

func cpuStats(at time.Time, nanoCores *uint64, window time.Duration) *stats.CPUStats {
	c := &stats.CPUStats{Time: at, UsageCoreNanoSeconds: u64p(123), UsageNanoCores: nanoCores}
	if window > 0 {
		c.Window = &metav1.Duration{Duration: window}
	}
	return c
}

func memStats(ws uint64) *stats.MemoryStats {
	return &stats.MemoryStats{Time: metricsNow, WorkingSetBytes: &ws}
}

func TestNodeMetricsConversion(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}}
	at := metricsNow.Add(-3 * time.Second)
	for _, tc := range []struct {
		name     string
		node     stats.NodeStats
		ok       bool
		cpuMilli int64
		memory   int64
	}{
		{name: "complete", ok: true, cpuMilli: 1500, memory: 3 << 30,
			node: stats.NodeStats{CPU: cpuStats(at, u64p(1_500_000_000), 10*time.Second), Memory: memStats(3 << 30)}},
		{name: "sub-millicore rounds up", ok: true, cpuMilli: 1, memory: 1,
			node: stats.NodeStats{CPU: cpuStats(at, u64p(1), 10*time.Second), Memory: memStats(1)}},
		{name: "no rate yet", node: stats.NodeStats{CPU: cpuStats(at, nil, 0), Memory: memStats(1)}},
		{name: "no memory", node: stats.NodeStats{CPU: cpuStats(at, u64p(1), time.Second)}},
		{name: "nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nm, ok := nodeMetrics(node, &stats.Summary{Node: tc.node}, metricsNow)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			cpu, mem := nm.Usage[corev1.ResourceCPU], nm.Usage[corev1.ResourceMemory]
			if cpu.MilliValue() != tc.cpuMilli || mem.Value() != tc.memory {
				t.Errorf("usage cpu %s (%dm) memory %s, want %dm and %d", cpu.String(), cpu.MilliValue(), mem.String(), tc.cpuMilli, tc.memory)
			}
			if nm.Name != "n1" || nm.Labels["zone"] != "a" || !nm.Timestamp.Time.Equal(at) || nm.Window.Duration != 10*time.Second ||
				!nm.CreationTimestamp.Time.Equal(metricsNow) {
				t.Errorf("metadata %+v timestamp %v window %v", nm.ObjectMeta, nm.Timestamp, nm.Window)
			}
		})
	}
}

func TestPodMetricsConversion(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1", Labels: map[string]string{"app": "web"}}}
	t1, t2 := metricsNow.Add(-2*time.Second), metricsNow.Add(-time.Second)
	full := func(name string, at time.Time, nanoCores, ws uint64) stats.ContainerStats {
		return stats.ContainerStats{Name: name, CPU: cpuStats(at, &nanoCores, 10*time.Second), Memory: memStats(ws)}
	}
	for _, tc := range []struct {
		name       string
		containers []stats.ContainerStats
		ok         bool
	}{
		{name: "two containers", ok: true, containers: []stats.ContainerStats{full("app", t1, 250_000_000, 10<<20), full("side", t2, 0, 1<<20)}},
		{name: "one container without a rate", containers: []stats.ContainerStats{full("app", t1, 1, 1),
			{Name: "new", CPU: cpuStats(t1, nil, 0), Memory: memStats(1)}}},
		{name: "one container without memory", containers: []stats.ContainerStats{{Name: "app", CPU: cpuStats(t1, u64p(1), time.Second)}}},
		{name: "no containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm, ok := podMetrics(pod, &stats.PodStats{PodRef: stats.PodReference{Name: "web", Namespace: "shop", UID: "u1"},
				Containers: tc.containers}, metricsNow)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if pm.Name != "web" || pm.Namespace != "shop" || pm.Labels["app"] != "web" || !pm.Timestamp.Time.Equal(t2) || pm.Window.Duration != 10*time.Second {
				t.Errorf("pod metrics %+v", pm)
			}
			if len(pm.Containers) != 2 || pm.Containers[0].Name != "app" || pm.Containers[1].Name != "side" {
				t.Fatalf("containers %+v", pm.Containers)
			}
			cpu, mem := pm.Containers[0].Usage[corev1.ResourceCPU], pm.Containers[0].Usage[corev1.ResourceMemory]
			if cpu.MilliValue() != 250 || mem.Value() != 10<<20 {
				t.Errorf("app usage %s %s", cpu.String(), mem.String())
			}
			table, err := (&PodMetricsREST{}).ConvertToTable(context.Background(), &metricsv1beta1.PodMetricsList{Items: []metricsv1beta1.PodMetrics{*pm}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := table.Rows[0].Cells; got[0] != "web" || got[1] != "250m" || got[2] != "11Mi" || got[3] != "10s" {
				t.Errorf("table row %v", got)
			}
		})
	}
}

// TestSummariesLeaveOutUnreachableNodes reads a summary from an agent
// on loopback and leaves out a node without an agent endpoint and one
// whose agent does not answer, without dialling the first.
func TestSummariesLeaveOutUnreachableNodes(t *testing.T) {
	agent := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats/summary" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(stats.Summary{Node: stats.NodeStats{NodeName: "up"}})
	}))
	defer agent.Close()
	host, port, _ := net.SplitHostPort(agent.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	node := func(name string, port int) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}}}}
	}
	transport := agent.Client().Transport.(*http.Transport)
	m := &metricsSource{agents: &agentDialer{tlsConfig: transport.TLSClientConfig, transport: transport}}
	// A node with port 0 must not be dialled at all: the simulated ones
	// have made-up addresses.
	sim := node("simulated", 0)
	sim.Status.Addresses[0].Address = "192.0.2.1"
	sums, err := m.summaries(context.Background(), []*corev1.Node{node("up", p), node("down", closedPort), sim})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums["up"] == nil || sums["up"].Node.NodeName != "up" {
		t.Errorf("summaries %v, want only the reachable node's", sums)
	}
	if _, err := m.summary(context.Background(), sim); !errors.Is(err, errNoAgent) {
		t.Errorf("simulated node: %v, want errNoAgent", err)
	}

	// Without a client certificate for agents the whole request is 503.
	none := &metricsSource{agents: &agentDialer{}}
	if _, err := none.summaries(context.Background(), []*corev1.Node{node("up", p)}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("no agent certificate: %v, want 503", err)
	}
}
