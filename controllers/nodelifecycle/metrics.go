package nodelifecycle

import (
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// podDeletions counts the pods this controller evicted from nodes with
// NoExecute taints they do not tolerate, under upstream's name, so that
// dashboards and the bench can tell how many pods a NotReady spell cost.
var podDeletions = metrics.NewCounter(&metrics.CounterOpts{
	Subsystem:      "taint_eviction_controller",
	Name:           "pod_deletions_total",
	Help:           "Total number of Pods deleted by the taint eviction (node lifecycle) controller since its start.",
	StabilityLevel: metrics.ALPHA,
})

func init() { legacyregistry.MustRegister(podDeletions) }
