package simulated

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"corral/agent/runtime"
)

// Annotations understood by the simulator (see the package comment).
const (
	AnnotationStartDelay    = "sim.corral.dev/start-delay"
	AnnotationCrashAfter    = "sim.corral.dev/crash-after"
	AnnotationRunFor        = "sim.corral.dev/run-for"
	AnnotationExitCode      = "sim.corral.dev/exit-code"
	AnnotationFailReadiness = "sim.corral.dev/fail-readiness"
	AnnotationReadyAfter    = "sim.corral.dev/ready-after"
	AnnotationInitRunFor    = "sim.corral.dev/init-run-for"
)

// Options configure one simulated node's runtime.
type Options struct {
	Clock clock.PassiveClock
	// StartDelay is how long a container stays Created before Running.
	StartDelay time.Duration
	// JobRunFor is how long app containers of restartPolicy Never or
	// OnFailure pods run by default before exiting 0.
	JobRunFor time.Duration
	// Capacity is reported as the node's capacity (pods is added by the agent).
	Capacity corev1.ResourceList
	// FallbackCIDR gives pod IPs until the node has a spec.podCIDR.
	FallbackCIDR string
}

// ids makes container and sandbox IDs unique across all simulated nodes.
var ids atomic.Uint64

// Runtime is one simulated node's runtime.
type Runtime struct {
	opts Options
	mu   sync.Mutex
	ipam *ipam
	pods map[types.UID]*simPod
}

type simPod struct {
	status     runtime.PodStatus // identity, sandbox and IPs; Containers unused
	stopped    bool
	containers []*simContainer // every attempt, oldest first
}

// simContainer is one attempt; its state at any time follows from these.
type simContainer struct {
	runtime.ContainerStatus // identity, CreatedAt, Image
	startAt                 time.Time
	exitAt                  time.Time // zero: runs until stopped
	exitCode                int32
	stoppedAt               time.Time // zero: not stopped
}

var _ runtime.Runtime = (*Runtime)(nil)
var _ runtime.Prober = (*Runtime)(nil)

// New returns a simulated runtime.
func New(opts Options) (*Runtime, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.JobRunFor == 0 {
		opts.JobRunFor = time.Second
	}
	ip, err := newIPAM(opts.FallbackCIDR)
	if err != nil {
		return nil, err
	}
	return &Runtime{opts: opts, ipam: ip, pods: map[types.UID]*simPod{}}, nil
}

// NodeInfo reports the configured capacity.
func (r *Runtime) NodeInfo(context.Context) (runtime.NodeInfo, error) {
	return runtime.NodeInfo{
		Capacity: r.opts.Capacity.DeepCopy(), OS: "linux", Arch: goarch,
		OSImage: "corral simulated node", KernelVersion: "simulated", RuntimeVersion: "simulated://1",
		ContainerPrefix: "simulated",
	}, nil
}

// UpdatePodCIDR switches new allocations to the node's pod CIDR.
func (r *Runtime) UpdatePodCIDR(cidr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cidr == "" || cidr == r.ipam.cidr() {
		return nil
	}
	ip, err := newIPAM(cidr)
	if err != nil {
		return err
	}
	for _, p := range r.pods { // keep existing pods' addresses reserved
		for _, a := range p.status.IPs {
			ip.reserve(a)
		}
	}
	r.ipam = ip
	return nil
}

// RunPodSandbox allocates the pod's IP.
func (r *Runtime) RunPodSandbox(_ context.Context, pod *corev1.Pod) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pods[pod.UID]; ok {
		return nil
	}
	ip, err := r.ipam.allocate()
	if err != nil {
		return err
	}
	r.pods[pod.UID] = &simPod{status: runtime.PodStatus{
		UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name,
		SandboxID: fmt.Sprintf("%016x", ids.Add(1)), SandboxReady: true,
		IPs: []string{ip}, CreatedAt: r.opts.Clock.Now(),
	}}
	return nil
}

// StartContainer records an attempt whose future is decided now from the
// pod's annotations.
func (r *Runtime) StartContainer(_ context.Context, pod *corev1.Pod, c *corev1.Container, attempt int32, _ runtime.ContainerConfig) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[pod.UID]
	if !ok || p.stopped {
		return fmt.Errorf("pod %s/%s has no running sandbox", pod.Namespace, pod.Name)
	}
	now := r.opts.Clock.Now()
	ann := pod.Annotations
	sc := &simContainer{ContainerStatus: runtime.ContainerStatus{
		ID: "simulated://" + fmt.Sprintf("%016x", ids.Add(1)), Name: c.Name, Attempt: attempt,
		Image: c.Image, ImageRef: "simulated://" + c.Image, CreatedAt: now,
	}}
	sc.startAt = now.Add(duration(ann, AnnotationStartDelay, r.opts.StartDelay))
	if isInit(pod, c.Name) {
		sc.exitAt = sc.startAt.Add(duration(ann, AnnotationInitRunFor, 0))
	} else {
		code, runFor := int32(0), time.Duration(0)
		if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			runFor = r.opts.JobRunFor
		}
		if d := duration(ann, AnnotationRunFor, 0); d > 0 {
			runFor = d
		}
		if d := duration(ann, AnnotationCrashAfter, 0); d > 0 {
			code, runFor = 1, d
		}
		if v, err := strconv.Atoi(ann[AnnotationExitCode]); err == nil {
			code = int32(v)
		}
		if runFor > 0 {
			sc.exitAt, sc.exitCode = sc.startAt.Add(runFor), code
		}
	}
	p.containers = append(p.containers, sc)
	p.prune(c.Name)
	return nil
}

// StopContainer stops one running attempt (a failed liveness probe).
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Clock.Now()
	for _, p := range r.pods {
		for _, c := range p.containers {
			if c.ID == id && c.stoppedAt.IsZero() && (c.exitAt.IsZero() || c.exitAt.After(now)) {
				c.stoppedAt = now
			}
		}
	}
	return nil
}

// StopPod stops every container at once: simulated processes exit on
// SIGTERM immediately, so grace is never needed.
func (r *Runtime) StopPod(_ context.Context, uid types.UID, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok || p.stopped {
		return nil
	}
	now := r.opts.Clock.Now()
	for _, c := range p.containers {
		if c.stoppedAt.IsZero() && (c.exitAt.IsZero() || c.exitAt.After(now)) {
			c.stoppedAt = now
		}
	}
	p.stopped = true
	return nil
}

// RemovePod forgets the pod and frees its IP.
func (r *Runtime) RemovePod(_ context.Context, uid types.UID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pods[uid]; ok {
		for _, a := range p.status.IPs {
			r.ipam.release(a)
		}
		delete(r.pods, uid)
	}
	return nil
}

// PodStatus evaluates the pod's containers at the current time.
func (r *Runtime) PodStatus(_ context.Context, uid types.UID) (*runtime.PodStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return nil, nil
	}
	return p.evaluate(r.opts.Clock.Now()), nil
}

// ListPods evaluates every pod.
func (r *Runtime) ListPods(context.Context) ([]*runtime.PodStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Clock.Now()
	out := make([]*runtime.PodStatus, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p.evaluate(now))
	}
	return out, nil
}

// SetChangeHandler is a no-op: every change is predicted by RecheckAt.
func (r *Runtime) SetChangeHandler(func(types.UID)) {}

// Ready answers readiness from the annotations.
func (r *Runtime) Ready(pod *corev1.Pod, c *runtime.ContainerStatus, now time.Time) (bool, time.Time) {
	if c.State != runtime.ContainerRunning || pod.Annotations[AnnotationFailReadiness] == "true" {
		return false, time.Time{}
	}
	if d := duration(pod.Annotations, AnnotationReadyAfter, 0); d > 0 {
		if at := c.StartedAt.Add(d); now.Before(at) {
			return false, at
		}
	}
	return true, time.Time{}
}

func (p *simPod) evaluate(now time.Time) *runtime.PodStatus {
	st := p.status
	st.IPs = append([]string(nil), p.status.IPs...)
	st.SandboxReady = !p.stopped
	st.Containers = make([]runtime.ContainerStatus, 0, len(p.containers))
	for _, c := range p.containers {
		cs := c.ContainerStatus
		switch end := c.end(); {
		case !end.IsZero() && !now.Before(end):
			cs.State, cs.FinishedAt = runtime.ContainerExited, end
			if c.startAt.Before(end) || c.startAt.Equal(end) {
				cs.StartedAt = c.startAt
			}
			cs.ExitCode = c.exitCode
			if !c.stoppedAt.IsZero() && c.stoppedAt.Equal(end) {
				cs.ExitCode = 0 // stopped: a simulated process exits cleanly on SIGTERM
			}
			cs.Reason = "Completed"
			if cs.ExitCode != 0 {
				cs.Reason = "Error"
			}
		case now.Before(c.startAt):
			cs.State = runtime.ContainerCreated
			st.RecheckAt = earliest(st.RecheckAt, c.startAt)
		default:
			cs.State, cs.StartedAt = runtime.ContainerRunning, c.startAt
			st.RecheckAt = earliest(st.RecheckAt, end)
		}
		st.Containers = append(st.Containers, cs)
	}
	return &st
}

// end is when the attempt stops: its planned exit or when it was stopped.
func (c *simContainer) end() time.Time {
	if !c.stoppedAt.IsZero() && (c.exitAt.IsZero() || c.stoppedAt.Before(c.exitAt)) {
		return c.stoppedAt
	}
	return c.exitAt
}

// prune keeps the two latest attempts of a container, as the agent only
// shows the current one and the last termination.
func (p *simPod) prune(name string) {
	n := 0
	for i := len(p.containers) - 1; i >= 0; i-- {
		if p.containers[i].Name == name {
			n++
			if n > 2 {
				p.containers = append(p.containers[:i], p.containers[i+1:]...)
			}
		}
	}
}

func isInit(pod *corev1.Pod, name string) bool {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return true
		}
	}
	return false
}

func duration(ann map[string]string, key string, def time.Duration) time.Duration {
	if v, ok := ann[key]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return def
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
