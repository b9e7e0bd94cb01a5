package apiserver

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"corral/agent/stats"
)

// nodeMetrics is a node's NodeMetrics from its agent's summary; false
// when the summary has no CPU rate (fewer than two samples) or no memory.
func nodeMetrics(node *corev1.Node, sum *stats.Summary, now time.Time) (*metricsv1beta1.NodeMetrics, bool) {
	usage, ts, window, ok := usageOf(sum.Node.CPU, sum.Node.Memory)
	if !ok {
		return nil, false
	}
	return &metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: copyLabels(node.Labels), CreationTimestamp: metav1.NewTime(now)},
		Timestamp:  metav1.NewTime(ts), Window: metav1.Duration{Duration: window}, Usage: usage,
	}, true
}

// podMetrics is a pod's PodMetrics from the summary entry of its node's
// agent; false unless every running container has a CPU rate and memory
// (as metrics-server, a pod is left out rather than undercounted).
func podMetrics(pod *corev1.Pod, ps *stats.PodStats, now time.Time) (*metricsv1beta1.PodMetrics, bool) {
	if len(ps.Containers) == 0 {
		return nil, false
	}
	out := &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace,
		Labels: copyLabels(pod.Labels), CreationTimestamp: metav1.NewTime(now)}}
	var latest time.Time
	var window time.Duration
	for _, c := range ps.Containers {
		usage, ts, w, ok := usageOf(c.CPU, c.Memory)
		if !ok {
			return nil, false
		}
		if ts.After(latest) {
			latest = ts
		}
		window = max(window, w)
		out.Containers = append(out.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: usage})
	}
	out.Timestamp, out.Window = metav1.NewTime(latest), metav1.Duration{Duration: window}
	return out, true
}

// usageOf is the cpu (cores, from the rate) and memory (working set)
// usage, with the CPU sample's time and window.
func usageOf(cpu *stats.CPUStats, mem *stats.MemoryStats) (corev1.ResourceList, time.Time, time.Duration, bool) {
	if cpu == nil || cpu.UsageNanoCores == nil || cpu.Window == nil || mem == nil || mem.WorkingSetBytes == nil {
		return nil, time.Time{}, 0, false
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(*cpu.UsageNanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(*mem.WorkingSetBytes), resource.BinarySI),
	}, cpu.Time, cpu.Window.Duration, true
}

func copyLabels(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
