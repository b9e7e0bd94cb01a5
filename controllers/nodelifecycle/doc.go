// Package nodelifecycle judges node health from the agents' Leases in
// kube-node-lease, taints nodes by their conditions and evicts the pods of
// dead nodes, as upstream's node lifecycle controller and taint manager
// do, with corral's faster defaults.
//
// Health. A node is alive while the controller sees its Lease's renewTime
// (or its Ready condition's heartbeat) change. Staleness is measured on the
// controller's own clock from the moment it observed the last change, never
// from the timestamps in the objects: node clocks may be skewed, and after a
// control-plane restart every lease looks old because nobody watched it. So
// every node starts with a full grace period when the controller starts, and
// taints left by a previous instance are neither removed nor acted upon
// until the node has been judged anew.
//
// A node not renewed within GracePeriod gets all its conditions set to
// Unknown (reason NodeStatusUnknown) and the node.kubernetes.io/unreachable
// NoSchedule and NoExecute taints; a live node whose agent reports
// Ready=False gets node.kubernetes.io/not-ready instead. When renewals are
// seen again the taints are removed (the Ready condition is the agent's to
// set back).
//
// Pressure (upstream's TaintNodesByCondition). A node whose agent reports
// MemoryPressure, DiskPressure or PIDPressure True gets the matching
// node.kubernetes.io/memory-pressure, disk-pressure or pid-pressure
// NoSchedule taint, and loses it when the condition is False or Unknown
// (an unreachable node's conditions are all Unknown). The node informer
// queues the node as soon as its conditions and taints disagree, whether
// or not the node has been judged yet; the scheduler's taint filter then
// keeps new pods off it, and DaemonSet pods tolerate these taints.
//
// Eviction. Pods on a node with NoExecute taints that they do not tolerate
// are deleted (plain delete, no eviction API, as upstream's taint manager)
// once their tolerationSeconds have passed, counted from when the
// controller first saw the taint. Pods with no toleration for the
// not-ready/unreachable taints get DefaultUnreachableToleration (corral's
// API server does not add upstream's default 300 s tolerations).
//
// Safety. Adding a NoExecute taint to a node is rate limited by a token
// bucket (EvictionRate nodes per second). Zones are judged as upstream
// does (topology.kubernetes.io/zone; nodes without it form one zone): when
// more than two and at least UnhealthyZoneThreshold of a zone's nodes are
// unhealthy but not all, the zone is partly disrupted; when every node of
// every zone is unhealthy, the controller itself has most likely lost the
// network. In both cases the not-ready/unreachable NoExecute taints are
// withheld and removed there (NoSchedule taints and Unknown conditions
// stay). A zone that lost all its nodes while others are healthy is
// evicted normally. When a zone leaves disruption its nodes get a fresh grace period,
// so that nodes which have not yet renewed are not evicted at once.
//
// Defaults (see DefaultOptions), aimed at replacement pods running on
// another node within 10 s of a node's death, with agents renewing every
// 2.5 s: grace 5 s (two missed renewals), monitor period 0.5 s, default
// toleration 2 s: a dead node is tainted 5–6 s after its last observed
// renewal and its pods are deleted 2 s later, at most about 8 s after its
// death, leaving ~2 s for the replacements to be created, bound and
// started. Eviction rate 10 nodes/s, burst 1; zone threshold 55 %; nodes
// that never had a Lease get StartupGracePeriod (15 s) to post one.
package nodelifecycle
