// Package server is the node agent's own HTTPS API, as kubelet's on port
// 10250: container logs read from the CRI log files, and exec, attach and
// port-forward proxied to the runtime's CRI streaming server. The API
// server is its only client: callers must present a certificate of the
// cluster CA.
package server
