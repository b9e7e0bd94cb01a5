// Package agent is corral's node agent core: kubelet's job for one or many
// nodes in one process. It registers Node objects, renews their Leases in
// kube-node-lease, posts node status, and runs the pods bound to its nodes
// through a runtime.Runtime (simulated or CRI).
//
// Cheap at thousands of nodes: all nodes of a process share one client,
// one pod informer (assigned pods, filtered by the node set), and three
// delaying work queues (pods, leases, node status) that act as the timer
// wheel: a lease renewal, a status heartbeat, a back-off expiry or a
// simulated container's next state change is a queue entry, not a
// goroutine or a timer.
//
// The pod worker is a pure diff: plan (what to start, what waits in
// back-off) and status (phase, conditions, container statuses) are
// functions of the API pod, the runtime's report and the clock; the
// worker only executes the plan and writes the status when it differs.
//
// Node conditions are Ready (the runtime answers) and kubelet's three
// pressure conditions. Pressure is a property of a real host, so the agent
// reads nothing itself: the host's stats sampler hands each sample's
// eviction signals to ObserveSignals (memory.available, nodefs and imagefs
// space and inodes, pid.available), which compares them with the hard
// eviction thresholds (Options.Thresholds, kubelet's defaults) and keeps a
// condition True for the transition period after its threshold was last
// met; a flip is posted at once instead of at the next heartbeat, and each
// condition keeps its own transition time. Simulated nodes are never
// observed, so their pressure stays False unless their Node carries
// AnnotationSimPressure. Evicting pods under pressure (kubelet's eviction
// manager) is not done yet.
package agent
