// Package containerd runs the node's own containerd as a child of the agent:
// it writes a config (version 2, for containerd 1.6) that keeps every path
// under the agent's data directory, so several containerds can run side by
// side, starts the daemon, waits until its CRI service answers, restarts it
// with back-off when it dies, and stops it when the agent stops. Pods'
// shims are not children of containerd's process group and keep running,
// as with a system containerd; a restarted containerd adopts them.
//
// Using an existing containerd (--container-runtime-endpoint) needs none
// of this: the caller hands that endpoint to agent/runtime/cri directly.
package containerd
