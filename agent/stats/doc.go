// Package stats is the node agent's resource usage: it samples the node's
// and its running containers' cumulative CPU time and memory from a Source
// (the CRI runtime), turns CPU time into a rate between two samples, and
// serves the result as a summary (GET /stats/summary, JSON, in the shape of
// kubelet's stats/v1alpha1 Summary) and as Prometheus metrics (GET
// /metrics, named after kubelet's /metrics/resource). The API server reads
// the summaries of all nodes to serve metrics.k8s.io (kubectl top). The
// node's file systems and task count, passed on from the Source, are the
// agent's pressure signals (Options.OnSample).
package stats
