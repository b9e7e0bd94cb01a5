// Package runtime is the contract between the node agent's pod workers and
// whatever runs containers: the simulated runtime (agent/runtime/simulated)
// for control-plane tests at thousands of nodes, and the CRI runtime on
// containerd (issue C).
//
// The interface is shaped after CRI (a pod sandbox holding containers, each
// container restart a new attempt) but small. Runtimes are mechanism only:
// they start, stop and report. Every decision (what to start, when to
// restart, back-off, phase, conditions) is taken by the agent, so both
// runtimes share the same pod lifecycle code and the simulation exercises
// the real agent logic, not a mock of it.
package runtime
