package runtime

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Runtime runs the pods of one node. Every method is safe for concurrent
// use; the agent never calls two methods for the same pod UID at once.
type Runtime interface {
	// NodeInfo reports what the node offers; an error marks it NotReady.
	NodeInfo(ctx context.Context) (NodeInfo, error)
	// UpdatePodCIDR hands over the node's spec.podCIDR once it is known
	// (CRI's UpdateRuntimeConfig). Before that a runtime may use its own.
	UpdatePodCIDR(cidr string) error

	// RunPodSandbox creates the pod's sandbox (network namespace and IP);
	// it is a no-op when the sandbox exists.
	RunPodSandbox(ctx context.Context, pod *corev1.Pod) error
	// StartContainer creates and starts attempt number attempt (the
	// restart count) of container c, init or app, in the pod's sandbox,
	// with what the agent resolved for it (environment, mounts, image
	// credentials). It pulls the image first when the policy asks.
	StartContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int32, cfg ContainerConfig) error
	// StopContainer stops one container (a failed liveness probe); the
	// pod's sync then restarts it under the restart policy.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// StopPod stops every container (SIGTERM, then SIGKILL after grace)
	// and then the sandbox. Exited containers stay visible in PodStatus
	// until RemovePod. Stopping a stopped or unknown pod is not an error.
	StopPod(ctx context.Context, uid types.UID, grace time.Duration) error
	// RemovePod forgets the pod and frees its resources (IP, sandbox).
	RemovePod(ctx context.Context, uid types.UID) error

	// PodStatus reports the pod's sandbox and containers, or nil (and no
	// error) when the runtime does not know the UID.
	PodStatus(ctx context.Context, uid types.UID) (*PodStatus, error)
	// ListPods reports every pod the runtime has, so that a restarted
	// agent adopts running pods and removes those the API no longer has.
	ListPods(ctx context.Context) ([]*PodStatus, error)
	// SetChangeHandler registers fn, called with a pod's UID when the
	// runtime notices a change on its own (a container exited: CRI's
	// container events / PLEG). Runtimes that can predict their changes
	// say so through PodStatus.RecheckAt instead.
	SetChangeHandler(fn func(uid types.UID))
}

// ContainerConfig is what the agent resolved for one container start.
type ContainerConfig struct {
	// Env is the container's environment, every valueFrom and envFrom
	// resolved, service variables included, in order.
	Env []corev1.EnvVar
	// Mounts are the container's volumeMounts resolved to host paths.
	Mounts []Mount
	// PullAuth are the credentials from the pod's imagePullSecrets.
	PullAuth []RegistryAuth
	// Hostname is the container's host name (the pod's, or the node's
	// with hostNetwork).
	Hostname string
}

// StartError is a container start that failed for a reason the pod status
// shows as the container's waiting reason.
type StartError struct {
	Reason string // one of the Reason* constants
	Err    error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Waiting reasons of containers that could not start, as kubelet's.
const (
	ReasonErrImagePull         = "ErrImagePull"
	ReasonImagePullBackOff     = "ImagePullBackOff"
	ReasonErrImageNeverPull    = "ErrImageNeverPull"
	ReasonInvalidImageName     = "InvalidImageName"
	ReasonCreateConfigError    = "CreateContainerConfigError"
	ReasonCreateContainerError = "CreateContainerError"
	ReasonRunContainerError    = "RunContainerError"
)

// Mount binds a host path into a container.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
	// SELinuxRelabel and propagation are not supported.
}

// RegistryAuth is one registry credential (docker config.json form).
type RegistryAuth struct {
	// Server is the registry host[:port] (or a URL whose host is used).
	Server             string
	Username, Password string
	Auth               string // base64 "user:password", when given instead
}

// Execer runs a command in a container and waits (probes, preStop).
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (stdout, stderr []byte, exitCode int32, err error)
}

// Streamer hands out CRI streaming URLs for kubectl exec, attach and
// port-forward; the agent's server proxies the client to them.
type Streamer interface {
	Exec(ctx context.Context, containerID string, cmd []string, tty, stdin, stdout, stderr bool) (url string, err error)
	Attach(ctx context.Context, containerID string, tty, stdin, stdout, stderr bool) (url string, err error)
	PortForward(ctx context.Context, uid types.UID, ports []int32) (url string, err error)
}

// Prober is implemented by runtimes that answer readiness themselves (the
// simulator, from annotations). For other runtimes the agent runs the
// pod's probes; with none, a running container is ready.
type Prober interface {
	// Ready tells whether the running container c is ready at now and,
	// when that will change by itself, when (else the zero time).
	Ready(pod *corev1.Pod, c *ContainerStatus, now time.Time) (ready bool, changeAt time.Time)
}

// NodeInfo describes the node a runtime runs on.
type NodeInfo struct {
	// Capacity: cpu, memory, ephemeral-storage and extended resources
	// (nvidia.com/gpu, ...). The agent adds pods and computes allocatable.
	Capacity        corev1.ResourceList
	OS, Arch        string // as runtime.GOOS/GOARCH
	OSImage         string
	KernelVersion   string
	RuntimeVersion  string // e.g. "containerd://2.1.0" or "simulated://1"
	MachineID       string
	SystemUUID      string
	BootID          string
	ContainerPrefix string // container IDs are "<prefix>://<id>"
}

// ContainerState is CRI's ContainerState.
type ContainerState int

const (
	// ContainerCreated: created, not running yet (pulling, starting).
	ContainerCreated ContainerState = iota
	// ContainerRunning: started and not exited.
	ContainerRunning
	// ContainerExited: finished; ExitCode and FinishedAt are set.
	ContainerExited
	// ContainerUnknown: the runtime lost track of it.
	ContainerUnknown
)

func (s ContainerState) String() string {
	switch s {
	case ContainerCreated:
		return "Created"
	case ContainerRunning:
		return "Running"
	case ContainerExited:
		return "Exited"
	}
	return "Unknown"
}

// ContainerStatus is one attempt of one container.
type ContainerStatus struct {
	ID       string // "<runtime>://<id>"
	Name     string
	Attempt  int32 // 0 for the first run, the restart count after
	State    ContainerState
	Image    string // as in the spec
	ImageRef string // resolved image ID
	// CreatedAt is when the attempt was created; StartedAt and FinishedAt
	// are zero until it started or finished.
	CreatedAt, StartedAt, FinishedAt time.Time
	ExitCode                         int32
	Reason, Message                  string // e.g. "Completed", "Error", "OOMKilled"
	// LogPath is the CRI log file of this attempt ("" when none).
	LogPath string
}

// PodStatus is what the runtime knows of one pod.
type PodStatus struct {
	UID             types.UID
	Namespace, Name string
	SandboxID       string
	SandboxReady    bool
	IPs             []string // first is the primary pod IP
	CreatedAt       time.Time
	// Containers holds init and app containers, the latest attempt of
	// each and possibly earlier ones (CRI keeps exited containers), in
	// no particular order.
	Containers []ContainerStatus
	// RecheckAt, when set, is when this status will change without any
	// call (a simulated container starting or exiting): the agent syncs
	// the pod again then, so nothing polls.
	RecheckAt time.Time
}

// Latest returns the highest attempt of the named container and the one
// before it (for lastState), either nil when missing.
func (s *PodStatus) Latest(name string) (latest, previous *ContainerStatus) {
	if s == nil {
		return nil, nil
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.Name != name {
			continue
		}
		switch {
		case latest == nil || c.Attempt > latest.Attempt:
			latest, previous = c, latest
		case previous == nil || c.Attempt > previous.Attempt:
			previous = c
		}
	}
	return latest, previous
}
