package cri

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ExecSync runs cmd in the container and waits, at most timeout (0: the
// request timeout), for probes and hooks. A non-zero exit is not an error.
func (r *Runtime) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) ([]byte, []byte, int32, error) {
	if len(cmd) == 0 {
		return nil, nil, 0, fmt.Errorf("exec in %s: empty command", containerID)
	}
	secs := int64((timeout + time.Second - 1) / time.Second)
	bound := r.opts.RequestTimeout
	if timeout > 0 {
		bound = timeout + 10*time.Second // the runtime enforces timeout; this only guards a hang
	}
	cctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	resp, err := r.rt.ExecSync(cctx, &runtimeapi.ExecSyncRequest{ContainerId: rawID(containerID), Cmd: cmd, Timeout: secs})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", containerID, err)
	}
	return resp.Stdout, resp.Stderr, resp.ExitCode, nil
}

// Exec returns the runtime's streaming URL for kubectl exec.
func (r *Runtime) Exec(ctx context.Context, containerID string, cmd []string, tty, stdin, stdout, stderr bool) (string, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.rt.Exec(cctx, &runtimeapi.ExecRequest{ContainerId: rawID(containerID), Cmd: cmd, Tty: tty,
		Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return "", fmt.Errorf("Exec: %w", err)
	}
	return resp.Url, nil
}

// Attach returns the runtime's streaming URL for kubectl attach.
func (r *Runtime) Attach(ctx context.Context, containerID string, tty, stdin, stdout, stderr bool) (string, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.rt.Attach(cctx, &runtimeapi.AttachRequest{ContainerId: rawID(containerID), Tty: tty,
		Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return "", fmt.Errorf("Attach: %w", err)
	}
	return resp.Url, nil
}

// PortForward returns the streaming URL for kubectl port-forward to the
// pod's ready sandbox.
func (r *Runtime) PortForward(ctx context.Context, uid types.UID, ports []int32) (string, error) {
	sb, err := r.readySandbox(ctx, uid)
	if err != nil {
		return "", err
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.rt.PortForward(cctx, &runtimeapi.PortForwardRequest{PodSandboxId: sb.Id, Port: ports})
	if err != nil {
		return "", fmt.Errorf("PortForward: %w", err)
	}
	return resp.Url, nil
}
