package prober

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"corral/agent/runtime"
)

// result is an adopted probe result.
type result int

const (
	unknown result = iota
	success
	failure
)

// maxTries is how often a probe that errors (as opposed to failing) is
// run before the round is given up, as kubelet's maxProbeRetries.
const maxTries = 3

// worker probes one container attempt with one probe until stopped.
type worker struct {
	m           *Manager
	uid         types.UID
	key         workerKey
	container   *corev1.Container
	spec        *corev1.Probe
	containerID string
	startedAt   time.Time

	stop    chan struct{} // closed by stopLocked
	trigger chan struct{} // an immediate round (readiness once started)
	done    chan struct{} // closed when run returns

	// Guarded by m.mu.
	stopped bool
	result  result
	kill    *LivenessFailure

	// Owned by run: the current streak of equal raw results.
	last   result
	streak int
}

func newWorker(m *Manager, uid types.UID, key workerKey, c *corev1.Container, spec *corev1.Probe, cs *runtime.ContainerStatus) *worker {
	w := &worker{m: m, uid: uid, key: key, container: c, spec: spec, containerID: cs.ID, startedAt: cs.StartedAt,
		stop: make(chan struct{}), trigger: make(chan struct{}, 1), done: make(chan struct{})}
	if w.startedAt.IsZero() {
		w.startedAt = m.clock.Now()
	}
	// Initial results as kubelet's: not ready until a success, alive
	// until a failure, not started until a success.
	switch key.probe {
	case Readiness:
		w.result = failure
	case Liveness:
		w.result = success
	}
	return w
}

func (w *worker) stopLocked() {
	if !w.stopped {
		w.stopped = true
		close(w.stop)
	}
}

// run probes at startedAt+initialDelaySeconds and then every
// periodSeconds; a round that overruns drops the ticks it missed but one,
// as a ticker would.
func (w *worker) run() {
	defer close(w.done)
	period := seconds(w.spec.PeriodSeconds, 10)
	first := w.startedAt.Add(time.Duration(w.spec.InitialDelaySeconds) * time.Second)
	next := first
	if now := w.m.clock.Now(); next.Before(now) {
		next = now // started late (agent restart): probe now, then every period
	}
	for {
		if !w.wait(next) {
			return
		}
		now := w.m.clock.Now()
		if now.Before(first) {
			continue // triggered during the initial delay
		}
		ticked := !now.Before(next)
		more := w.round()
		if w.m.afterRound != nil {
			w.m.afterRound(w)
		}
		if !more {
			return
		}
		if ticked {
			next = next.Add(period)
			if late := w.m.clock.Now().Sub(next); late > 0 {
				next = next.Add(late.Truncate(period))
			}
		}
	}
}

// wait returns at time at or on a trigger, false when stopped.
func (w *worker) wait(at time.Time) bool {
	d := at.Sub(w.m.clock.Now())
	if d <= 0 {
		select {
		case <-w.stop:
			return false
		default:
			return true
		}
	}
	t := w.m.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C():
		return true
	case <-w.trigger:
		return true
	}
}

// round runs one probe and adopts its result when a threshold is met.
// It returns false when the worker has nothing more to do: the startup
// probe succeeded, or a liveness/startup failure holds the container
// until the agent replaces it.
func (w *worker) round() bool {
	m := w.m
	m.mu.Lock()
	p := m.pods[w.uid]
	if w.stopped || p == nil {
		m.mu.Unlock()
		return false
	}
	pod, podIP := p.pod, p.podIP
	started := p.startedLocked(w.key.container, w.containerID)
	m.mu.Unlock()

	if pod.DeletionTimestamp != nil && w.key.probe != Readiness {
		// A terminating pod is not killed for liveness; kubelet reports
		// such probes as succeeding.
		w.adopt(success, pod)
		return true
	}
	if w.key.probe != Startup && !started {
		return true // readiness and liveness wait for the startup probe
	}

	var (
		res probeResult
		out string
		err error
	)
	for try := 0; try < maxTries; try++ {
		if res, out, err = m.probe(w, podIP); err == nil {
			break
		}
	}
	name := w.key.container
	switch {
	case err != nil:
		m.event(pod, name, "Unhealthy", fmt.Sprintf("%s probe errored and resulted in unknown state: %v", w.key.probe, err))
		return true // errors are not results: nothing counts
	case res == probeWarning:
		m.event(pod, name, "ProbeWarning", fmt.Sprintf("%s probe warning: %s", w.key.probe, out))
	case res == probeFailure:
		m.event(pod, name, "Unhealthy", fmt.Sprintf("%s probe failed: %s", w.key.probe, out))
	}

	r := success
	if res == probeFailure {
		r = failure
	}
	if r == w.last {
		w.streak++
	} else {
		w.last, w.streak = r, 1
	}
	if (r == failure && w.streak < threshold(w.spec.FailureThreshold, 3)) ||
		(r == success && w.streak < threshold(w.spec.SuccessThreshold, 1)) {
		return true
	}
	w.adopt(r, pod)
	switch {
	case r == failure && w.key.probe != Readiness:
		return false // on hold: the agent stops this attempt
	case r == success && w.key.probe == Startup:
		m.triggerReadiness(w)
		return false
	}
	return true
}

// adopt stores r as the worker's result and tells the agent if it changed.
func (w *worker) adopt(r result, pod *corev1.Pod) {
	m := w.m
	m.mu.Lock()
	if w.stopped || w.result == r {
		m.mu.Unlock()
		return
	}
	w.result = r
	if r == failure && w.key.probe != Readiness {
		w.kill = &LivenessFailure{Probe: w.key.probe, Grace: killGrace(pod, w.spec),
			Message: fmt.Sprintf("Container %s failed %s probe", w.key.container, map[Type]string{Liveness: "liveness", Startup: "startup"}[w.key.probe])}
	}
	m.mu.Unlock()
	if m.opts.OnChange != nil {
		m.opts.OnChange(w.uid)
	}
}

// triggerReadiness runs the readiness probe of a container that just
// started without waiting for its next period, as kubelet does.
func (m *Manager) triggerReadiness(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pods[w.uid]; p != nil {
		if r := p.workers[workerKey{w.key.container, Readiness}]; r != nil && r.containerID == w.containerID {
			select {
			case r.trigger <- struct{}{}:
			default:
			}
		}
	}
}

func (m *Manager) event(pod *corev1.Pod, container, reason, message string) {
	if m.opts.Event != nil {
		m.opts.Event(pod, container, corev1.EventTypeWarning, reason, message)
	}
}

// killGrace is the grace period to stop a container whose liveness or
// startup probe failed: the probe's own, else the pod's.
func killGrace(pod *corev1.Pod, spec *corev1.Probe) time.Duration {
	switch {
	case spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// seconds reads a probe duration field, def when unset (the API defaults
// them, but pods built in code may not be).
func seconds(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func threshold(v, def int32) int {
	if v <= 0 {
		return int(def)
	}
	return int(v)
}
