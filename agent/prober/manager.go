package prober

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"corral/agent/runtime"
)

// Type is the kind of a probe.
type Type int

const (
	Readiness Type = iota
	Liveness
	Startup
)

// String is the name kubelet uses in probe event messages.
func (t Type) String() string {
	switch t {
	case Readiness:
		return "Readiness"
	case Liveness:
		return "Liveness"
	case Startup:
		return "Startup"
	}
	return "Unknown"
}

// Options configure a Manager.
type Options struct {
	// Execer runs exec probes; without one they error (and do not count).
	Execer runtime.Execer
	// Clock schedules probes (default: the real clock).
	Clock clock.WithTicker
	// OnChange is called (never under a lock) when an adopted result of
	// one of the pod's containers changes, so the agent syncs the pod.
	OnChange func(uid types.UID)
	// Event records a pod event for one container, kubelet's "Unhealthy"
	// (failed or errored probe) and "ProbeWarning" (redirect not followed).
	Event func(pod *corev1.Pod, container, eventType, reason, message string)
	// Dial opens the connections of httpGet, tcpSocket and grpc probes
	// (default: a net.Dialer that closes with SO_LINGER 1s, as kubelet).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// HTTPTransport carries httpGet probes (default: no proxy, no
	// keep-alive, TLS without verification, dialing through Dial).
	HTTPTransport http.RoundTripper
}

// LivenessFailure says why and how to stop a container whose liveness
// (or startup) probe failed.
type LivenessFailure struct {
	Probe Type // Liveness or Startup
	// Message is kubelet's kill message ("Container app failed liveness
	// probe"); the agent adds ", will be restarted" when it will be.
	Message string
	// Grace is the probe's terminationGracePeriodSeconds when set, else
	// the pod's (default 30s).
	Grace time.Duration
}

// Manager runs the probes of the pods of one node.
type Manager struct {
	opts      Options
	clock     clock.WithTicker
	dial      func(ctx context.Context, network, address string) (net.Conn, error)
	transport http.RoundTripper
	ctx       context.Context // cancelled by Stop; bounds probes in flight
	cancel    context.CancelFunc

	// afterRound, set by tests before any Update, sees every round end.
	afterRound func(w *worker)

	mu      sync.Mutex
	pods    map[types.UID]*podProbes
	stopped bool
}

// podProbes is what the manager keeps per pod.
type podProbes struct {
	pod     *corev1.Pod
	podIP   string
	running map[string]string // container name → ID of its running attempt
	workers map[workerKey]*worker
}

type workerKey struct {
	container string
	probe     Type
}

// New returns a Manager; Stop ends its workers.
func New(opts Options) *Manager {
	m := &Manager{opts: opts, clock: opts.Clock, dial: opts.Dial, transport: opts.HTTPTransport,
		pods: map[types.UID]*podProbes{}}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	if m.dial == nil {
		m.dial = lingerDialer().DialContext
	}
	if m.transport == nil {
		m.transport = newTransport(m.dial)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Update starts workers for the running containers of pod that have
// probes and stops those of attempts that exited or were replaced. rs is
// the runtime's status of the pod (nil: nothing runs). A pod in a
// terminal phase is removed.
func (m *Manager) Update(pod *corev1.Pod, rs *runtime.PodStatus) {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		m.Remove(pod.UID)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	p := m.pods[pod.UID]
	if p == nil {
		p = &podProbes{running: map[string]string{}, workers: map[workerKey]*worker{}}
		m.pods[pod.UID] = p
	}
	p.pod = pod
	switch {
	case rs != nil && len(rs.IPs) > 0:
		p.podIP = rs.IPs[0]
	case pod.Status.PodIP != "":
		p.podIP = pod.Status.PodIP
	}

	wanted := map[workerKey]bool{}
	for _, c := range probedContainers(pod) {
		latest, _ := rs.Latest(c.Name)
		if latest == nil || latest.State != runtime.ContainerRunning {
			delete(p.running, c.Name)
			continue
		}
		p.running[c.Name] = latest.ID
		for t, spec := range map[Type]*corev1.Probe{Readiness: c.ReadinessProbe, Liveness: c.LivenessProbe, Startup: c.StartupProbe} {
			if spec == nil {
				continue
			}
			key := workerKey{c.Name, t}
			wanted[key] = true
			if w := p.workers[key]; w != nil {
				if w.containerID == latest.ID {
					continue
				}
				w.stopLocked()
			}
			w := newWorker(m, pod.UID, key, c, spec, latest)
			p.workers[key] = w
			go w.run()
		}
	}
	for key, w := range p.workers {
		if !wanted[key] {
			w.stopLocked()
			delete(p.workers, key)
		}
	}
	for name := range p.running {
		if !isProbed(pod, name) {
			delete(p.running, name)
		}
	}
}

// Remove stops the probes of a pod that is gone or finished.
func (m *Manager) Remove(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p := m.pods[uid]; p != nil {
		for _, w := range p.workers {
			w.stopLocked()
		}
		delete(m.pods, uid)
	}
}

// Stop ends every worker, cancelling probes in flight, and waits for
// them; Update does nothing afterwards.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	var done []chan struct{}
	for uid, p := range m.pods {
		for _, w := range p.workers {
			w.stopLocked()
			done = append(done, w.done)
		}
		delete(m.pods, uid)
	}
	m.mu.Unlock()
	m.cancel()
	for _, ch := range done {
		<-ch
	}
}

// Ready tells whether the running container attempt id of the named
// container is ready: started, and its readiness probe (if any) has
// succeeded successThreshold times since the last failure streak. A
// container Update has not seen running is not ready.
func (m *Manager) Ready(uid types.UID, container, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[uid]
	if p == nil || p.running[container] != id || !p.startedLocked(container, id) {
		return false
	}
	c := findContainer(p.pod, container)
	if c == nil {
		return false
	}
	if c.ReadinessProbe == nil {
		return true
	}
	return p.resultLocked(workerKey{container, Readiness}, id) == success
}

// Started tells whether the running container attempt id has started:
// its startup probe succeeded, or it has none.
func (m *Manager) Started(uid types.UID, container, id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[uid]
	return p != nil && p.running[container] == id && p.startedLocked(container, id)
}

// Liveness tells whether container attempt id failed its liveness probe
// or its startup probe (failureThreshold times): the agent should stop
// it (LivenessFailure says with which grace) and let the restart policy
// act. It stays true until Update sees the attempt exited or replaced.
func (m *Manager) Liveness(uid types.UID, container, id string) (failed bool) {
	_, failed = m.LivenessFailure(uid, container, id)
	return failed
}

// LivenessFailure is Liveness with the kill message and grace period.
func (m *Manager) LivenessFailure(uid types.UID, container, id string) (LivenessFailure, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.pods[uid]
	if p == nil {
		return LivenessFailure{}, false
	}
	for _, t := range []Type{Liveness, Startup} {
		if w := p.workers[workerKey{container, t}]; w != nil && w.containerID == id && w.result == failure && w.kill != nil {
			return *w.kill, true
		}
	}
	return LivenessFailure{}, false
}

func (p *podProbes) startedLocked(container, id string) bool {
	c := findContainer(p.pod, container)
	if c == nil {
		return false
	}
	if c.StartupProbe == nil {
		return true
	}
	return p.resultLocked(workerKey{container, Startup}, id) == success
}

func (p *podProbes) resultLocked(key workerKey, id string) result {
	if w := p.workers[key]; w != nil && w.containerID == id {
		return w.result
	}
	return unknown
}

// probedContainers are the containers kubelet probes: app containers and
// restartable (sidecar) init containers.
func probedContainers(pod *corev1.Pod) []*corev1.Container {
	var cs []*corev1.Container
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs = append(cs, c)
		}
	}
	for i := range pod.Spec.Containers {
		cs = append(cs, &pod.Spec.Containers[i])
	}
	return cs
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, c := range probedContainers(pod) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func isProbed(pod *corev1.Pod, name string) bool { return findContainer(pod, name) != nil }
