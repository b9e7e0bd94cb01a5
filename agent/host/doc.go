// Package host runs corral's node agent on this machine for real: it
// prepares the node's network (blackhole routes for the cluster and
// service ranges, forwarding, the CNI bridge config once node IPAM gives
// the node its pod CIDR), starts and supervises containerd (or uses a
// given CRI endpoint), imports the built-in pause image and the images
// in the auto-import directory, and runs the agent core (package agent)
// with the CRI runtime, volumes, environment and probes, plus the
// agent's own HTTPS API for logs, exec, attach and port-forward. Each
// resource usage sample also feeds the node's pressure conditions
// (memory, disk and PID eviction signals, agent.ObserveSignals).
//
// Both `corral server` (its own node) and `corral agent` (a joining
// machine) call Run.
package host
