// Package network prepares a node's networking for containerd's CRI
// plugin: the CNI configuration (bridge + host-local + portmap) for the
// node's pod CIDR, IP forwarding, and the routes that keep pod and service
// traffic on the machine: the cluster CIDR ends in a blackhole route and
// the service CIDR on a port-less "sink" bridge, so a missing rule fails
// on the node and never leaks out through the default route; more specific
// routes (the node's own pod CIDR on its CNI bridge, other nodes' pod CIDRs
// via their IPs from RouteToNode) win over them.
//
// Routes and links are set with the ip command (iproute2): netlink is not
// in corral's module graph.
package network
