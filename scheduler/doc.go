// Package scheduler is corral's pod scheduler.
//
// The decision is a pure function: Profile.Schedule (and the package-level
// Schedule, with the default profile) takes a pod and a Snapshot of nodes
// with the pods bound to them and returns a Decision: the chosen node, or
// the per-node failures that Decision.Message sums up as kube-scheduler
// does ("0/3 nodes are available: 1 node(s) had untolerated taint {k: v},
// 2 Insufficient cpu."). Nothing in it reads the API, a clock or a random
// source, so it is tested with a harness that builds snapshots from plain
// objects.
//
// A decision runs filters, one small type each (NodeUnschedulable,
// NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
// PodTopologySpread, InterPodAffinity), in parallel over the nodes starting
// at a rotating index, stops after enough feasible nodes (upstream's
// percentageOfNodesToScore), then sums weighted scorers normalized to
// 0..100 (LeastAllocated, BalancedAllocation, OwnerSpread,
// NodeAffinity, InterPodAffinity, PodTopologySpread ScheduleAnyway,
// TaintToleration PreferNoSchedule). Ties go to the first node visited.
// Filters that need cluster-wide counts (spread, inter-pod affinity)
// implement PreFilter and return a filter bound to those counts.
//
// When nothing fits, Profile.Preempt (also pure) finds the node where
// evicting the fewest, least important pods of lower priority makes room.
//
// Scheduler is the loop around it: informers feed a Cache (nodes, bound
// and assumed pods, maintained incrementally so that a snapshot update
// copies only changed nodes) and a Queue (priority, then arrival; backoff
// 1 s doubling to 10 s; unschedulable pods woken by the cluster events
// that concern the filters that rejected them). A decided pod is assumed
// in the cache, so the next decision counts it, and bound through
// pods/binding by one of several concurrent binders. A pod that fits
// nowhere gets PodScheduled=False (reason Unschedulable) and a
// FailedScheduling event.
package scheduler
