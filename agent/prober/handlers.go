package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeResult is the outcome of one probe run.
type probeResult int

const (
	probeSuccess probeResult = iota
	probeFailure
	// probeWarning counts as success but is reported (an HTTP redirect
	// to another host, not followed).
	probeWarning
)

// maxOutput bounds the exec output and HTTP body kept, as kubelet's 10 KiB.
const maxOutput = 10 * 1024

// userAgent is kubelet's probe user agent for the Kubernetes version corral
// serves (apiserver.KubernetesVersion).
const userAgent = "kube-probe/1.37"

// probe runs w's handler once. A failure is a result (with kubelet's
// message); an error means the probe could not be run at all.
func (m *Manager) probe(w *worker, podIP string) (probeResult, string, error) {
	timeout := seconds(w.spec.TimeoutSeconds, 1)
	h := &w.spec.ProbeHandler
	switch {
	case h.Exec != nil:
		return m.execProbe(w.containerID, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		return m.httpProbe(h.HTTPGet, w.container, podIP, timeout)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, w.container)
		if err != nil {
			return probeFailure, "", err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		if host == "" {
			return probeFailure, "", errors.New("the pod has no IP yet")
		}
		return m.tcpProbe(net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	case h.GRPC != nil:
		if podIP == "" {
			return probeFailure, "", errors.New("the pod has no IP yet")
		}
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		return m.grpcProbe(podIP, int(h.GRPC.Port), service, timeout)
	}
	return probeFailure, "", fmt.Errorf("missing probe handler for container %s", w.container.Name)
}

// execProbe runs cmd in the container: exit code 0 is success, any other
// a failure whose message is the command's output.
func (m *Manager) execProbe(containerID string, cmd []string, timeout time.Duration) (probeResult, string, error) {
	if m.opts.Execer == nil {
		return probeFailure, "", errors.New("exec probes are not supported by this runtime")
	}
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	stdout, stderr, code, err := m.opts.Execer.ExecSync(ctx, containerID, cmd, timeout)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded ||
			errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return probeFailure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
		}
		return probeFailure, "", err
	}
	out := append(stdout[:len(stdout):len(stdout)], stderr...)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	if code != 0 {
		return probeFailure, string(out), nil
	}
	return probeSuccess, string(out), nil
}

// tcpProbe succeeds when a connection to addr opens within timeout.
func (m *Manager) tcpProbe(addr string, timeout time.Duration) (probeResult, string, error) {
	ctx, cancel := context.WithTimeout(m.ctx, timeout)
	defer cancel()
	conn, err := m.dial(ctx, "tcp", addr)
	if err != nil {
		return probeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return probeSuccess, "", nil
}

// resolvePort turns a probe port (a number, or the name of one of the
// container's ports) into a port number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := -1
	switch p.Type {
	case intstr.Int:
		port = p.IntValue()
	case intstr.String:
		found := false
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				port, found = int(cp.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
			}
			port = n
		}
	}
	if port <= 0 || port > 65535 {
		return 0, fmt.Errorf("invalid port number %d", port)
	}
	return port, nil
}
