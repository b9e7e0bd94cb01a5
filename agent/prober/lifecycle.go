package prober

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// RunHook runs a container's lifecycle handler (postStart or preStop):
// exec in the container, an HTTP GET (or a sleep), with the probes'
// transport. It returns an error naming the hook when the handler failed,
// as kubelet's FailedPostStartHook / FailedPreStopHook events say.
func (m *Manager) RunHook(pod *corev1.Pod, c *corev1.Container, containerID string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	podIP := pod.Status.PodIP
	var (
		res probeResult
		msg string
		err error
	)
	switch {
	case h.Exec != nil:
		res, msg, err = m.execProbe(containerID, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		res, msg, err = m.httpProbe(h.HTTPGet, c, podIP, timeout)
	case h.Sleep != nil:
		select {
		case <-m.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-m.ctx.Done():
		}
		return nil
	default:
		return errors.New("lifecycle hook has no handler")
	}
	switch {
	case err != nil:
		return err
	case res == probeFailure:
		return fmt.Errorf("hook failed: %s", msg)
	}
	return nil
}
