// Package cri implements the node agent's runtime interface
// (agent/runtime) over the Container Runtime Interface, against
// containerd 1.6's CRI plugin (or any CRI v1 runtime) on a unix socket.
//
// It translates pods into sandbox and container configs the way kubelet's
// kuberuntime does (labels, annotations, log paths, resources, security
// context, port mappings, DNS), pulls images by the pull policy with the
// pod's registry credentials, and reports pods back from the runtime's
// lists. containerd 1.6 has no container events, so a PLEG relists every
// RelistPeriod and tells the agent which pods changed.
//
// A pod is identified by the io.kubernetes.pod.uid label on its sandboxes
// and containers; everything else is read back from the runtime, so a
// restarted agent adopts running pods.
package cri
