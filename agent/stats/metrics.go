package stats

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric descriptions; the resource ones carry kubelet's /metrics/resource
// names and labels, so dashboards written for kubelet read them.
var (
	nodeCPUDesc = prometheus.NewDesc("node_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the node in core-seconds", nil, nil)
	nodeMemDesc = prometheus.NewDesc("node_memory_working_set_bytes",
		"Current working set of the node in bytes", nil, nil)
	podCPUDesc = prometheus.NewDesc("pod_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the pod in core-seconds", []string{"pod", "namespace"}, nil)
	podMemDesc = prometheus.NewDesc("pod_memory_working_set_bytes",
		"Current working set of the pod in bytes", []string{"pod", "namespace"}, nil)
	containerCPUDesc = prometheus.NewDesc("container_cpu_usage_seconds_total",
		"Cumulative cpu time consumed by the container in core-seconds", []string{"container", "pod", "namespace"}, nil)
	containerMemDesc = prometheus.NewDesc("container_memory_working_set_bytes",
		"Current working set of the container in bytes", []string{"container", "pod", "namespace"}, nil)
	containerStartDesc = prometheus.NewDesc("container_start_time_seconds",
		"Start time of the container since unix epoch in seconds", []string{"container", "pod", "namespace"}, nil)
	scrapeErrorDesc = prometheus.NewDesc("scrape_error",
		"1 if there was an error while getting container metrics, 0 otherwise", nil, nil)
	runningPodsDesc = prometheus.NewDesc("corral_agent_running_pods",
		"Number of pods with a running sandbox on the node", nil, nil)
	runningContainersDesc = prometheus.NewDesc("corral_agent_running_containers",
		"Number of running containers on the node", nil, nil)
	readDurationDesc = prometheus.NewDesc("corral_agent_stats_read_duration_seconds",
		"How long the latest read of the runtime's and the node's usage took", nil, nil)
)

// collector exposes the sampler's latest summary; a scrape reads no
// runtime, so scraping often costs nothing.
type collector struct{ s *Sampler }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeCPUDesc, nodeMemDesc, podCPUDesc, podMemDesc, containerCPUDesc,
		containerMemDesc, containerStartDesc, scrapeErrorDesc, runningPodsDesc, runningContainersDesc, readDurationDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	took, err := c.s.lastRead()
	scrapeErr := 0.0
	if err != nil {
		scrapeErr = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, scrapeErr)
	ch <- prometheus.MustNewConstMetric(readDurationDesc, prometheus.GaugeValue, took.Seconds())
	sum, _, _ := c.s.Summary()
	if sum == nil {
		return
	}
	cpu := func(d *prometheus.Desc, st *CPUStats, labels ...string) {
		if st != nil && st.UsageCoreNanoSeconds != nil {
			ch <- prometheus.NewMetricWithTimestamp(st.Time, prometheus.MustNewConstMetric(d,
				prometheus.CounterValue, float64(*st.UsageCoreNanoSeconds)/1e9, labels...))
		}
	}
	mem := func(d *prometheus.Desc, st *MemoryStats, labels ...string) {
		if st != nil && st.WorkingSetBytes != nil {
			ch <- prometheus.NewMetricWithTimestamp(st.Time, prometheus.MustNewConstMetric(d,
				prometheus.GaugeValue, float64(*st.WorkingSetBytes), labels...))
		}
	}
	cpu(nodeCPUDesc, sum.Node.CPU)
	mem(nodeMemDesc, sum.Node.Memory)
	containers := 0
	for _, p := range sum.Pods {
		cpu(podCPUDesc, p.CPU, p.PodRef.Name, p.PodRef.Namespace)
		mem(podMemDesc, p.Memory, p.PodRef.Name, p.PodRef.Namespace)
		for _, ct := range p.Containers {
			containers++
			cpu(containerCPUDesc, ct.CPU, ct.Name, p.PodRef.Name, p.PodRef.Namespace)
			mem(containerMemDesc, ct.Memory, ct.Name, p.PodRef.Name, p.PodRef.Namespace)
			if !ct.StartTime.IsZero() {
				ch <- prometheus.MustNewConstMetric(containerStartDesc, prometheus.GaugeValue,
					float64(ct.StartTime.UnixNano())/1e9, ct.Name, p.PodRef.Name, p.PodRef.Namespace)
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(runningPodsDesc, prometheus.GaugeValue, float64(len(sum.Pods)))
	ch <- prometheus.MustNewConstMetric(runningContainersDesc, prometheus.GaugeValue, float64(containers))
}

// NewRegistry is the agent's own registry (never the global default, so
// several agents in one process, as in tests, do not collide): the
// sampler's resource metrics plus the Go runtime's and the process's.
func NewRegistry(s *Sampler) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler serves reg in the Prometheus text (or OpenMetrics) format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
