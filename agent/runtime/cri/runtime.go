package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"corral/agent/runtime"
)

// Labels and annotations corral puts on sandboxes and containers (the
// io.kubernetes ones are kubelet's, so CRI tools show pods as usual).
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"

	AnnotationRestartCount       = "io.kubernetes.container.restartCount"
	AnnotationTerminationPath    = "io.kubernetes.container.terminationMessagePath"
	AnnotationTerminationPolicy  = "io.kubernetes.container.terminationMessagePolicy"
	AnnotationGracePeriod        = "io.kubernetes.pod.terminationGracePeriod"
	AnnotationImage              = "corral.dev/image"           // the image as the spec names it
	AnnotationTerminationLogHost = "corral.dev/termination-log" // host file behind terminationMessagePath
)

// Options configure the CRI runtime.
type Options struct {
	// Endpoint is the runtime's socket: a path or unix:///path.
	Endpoint string
	// PodLogDir holds each pod's log directory, <ns>_<name>_<uid>
	// (kubelet uses /var/log/pods).
	PodLogDir string
	// DataDir is the file system whose size is the node's
	// ephemeral-storage capacity (default PodLogDir).
	DataDir string
	// CgroupRoot is the cgroupfs parent of every pod's cgroup
	// (default /corral); pods get <CgroupRoot>/pod<uid>.
	CgroupRoot string
	// CgroupFS is where the cgroup hierarchies are mounted (default
	// /sys/fs/cgroup); RemovePod removes the pod's cgroup in each.
	CgroupFS string
	// ClusterDNS and ClusterDomain configure ClusterFirst pods' resolv.conf;
	// with no ClusterDNS they get the host's, as kubelet does.
	ClusterDNS    []string
	ClusterDomain string
	// Clock paces the PLEG and stamps nothing else (default real).
	Clock clock.WithTicker
	// RelistPeriod is the PLEG's period (default 1s).
	RelistPeriod time.Duration
	// RequestTimeout bounds each CRI call except image pulls and
	// container stops (default 2m, kubelet's runtime-request-timeout).
	RequestTimeout time.Duration
}

// Runtime is the CRI implementation of runtime.Runtime, runtime.Execer and
// runtime.Streamer.
type Runtime struct {
	opts   Options
	conn   *grpc.ClientConn
	rt     runtimeapi.RuntimeServiceClient
	img    runtimeapi.ImageServiceClient
	memory int64 // node memory in bytes, for oom_score_adj

	mu      sync.Mutex
	handler func(types.UID)
	// exited caches the status of exited containers, which never
	// changes, by container ID; entries go with RemovePod and relists.
	exited map[string]runtime.ContainerStatus
	done   chan struct{}
}

var (
	_ runtime.Runtime  = (*Runtime)(nil)
	_ runtime.Execer   = (*Runtime)(nil)
	_ runtime.Streamer = (*Runtime)(nil)
)

// ContainerPrefix prefixes container IDs ("containerd://<id>").
const ContainerPrefix = "containerd"

// New connects to the runtime and starts the PLEG, which runs until ctx
// ends. It fails when the runtime does not answer the Version RPC.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Endpoint == "" {
		return nil, errors.New("cri: Endpoint is required")
	}
	if opts.PodLogDir == "" {
		return nil, errors.New("cri: PodLogDir is required")
	}
	if opts.DataDir == "" {
		opts.DataDir = opts.PodLogDir
	}
	if err := os.MkdirAll(opts.PodLogDir, 0o755); err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	if opts.CgroupRoot == "" {
		opts.CgroupRoot = "/corral"
	}
	opts.CgroupRoot = "/" + strings.Trim(opts.CgroupRoot, "/")
	if opts.CgroupFS == "" {
		opts.CgroupFS = "/sys/fs/cgroup"
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = "cluster.local"
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.RelistPeriod <= 0 {
		opts.RelistPeriod = time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	target := opts.Endpoint
	if !strings.HasPrefix(target, "unix://") {
		if !filepath.IsAbs(target) {
			return nil, fmt.Errorf("cri: endpoint %q is neither unix:// nor an absolute socket path", target)
		}
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)), grpc.WithConnectParams(connectParams))
	if err != nil {
		return nil, fmt.Errorf("cri: %w", err)
	}
	r := &Runtime{opts: opts, conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn),
		img: runtimeapi.NewImageServiceClient(conn), exited: map[string]runtime.ContainerStatus{},
		done: make(chan struct{})}
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := r.rt.Version(vctx, &runtimeapi.VersionRequest{}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cri: runtime at %s does not answer: %w", opts.Endpoint, err)
	}
	if mem, err := memTotal(); err == nil {
		r.memory = mem
	}
	// The PLEG's baseline is taken now, so every change after New is
	// reported, even one before the first period ends.
	baseline, err := r.relist(ctx)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cri: listing the runtime's pods: %w", err)
	}
	go r.pleg(ctx, baseline)
	return r, nil
}

// Done is closed when the PLEG stopped and the connection closed, after
// the context given to New ended.
func (r *Runtime) Done() <-chan struct{} { return r.done }

// SetChangeHandler registers fn, called by the PLEG with the UID of each
// pod whose sandbox or containers changed state.
func (r *Runtime) SetChangeHandler(fn func(uid types.UID)) {
	r.mu.Lock()
	r.handler = fn
	r.mu.Unlock()
}

// call bounds a CRI request by the request timeout.
func (r *Runtime) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.RequestTimeout)
}

// connectParams reconnect quickly: a local runtime that restarted is back
// within a second or two, and grpc's default back-off (up to 2m) would
// leave the node NotReady much longer.
var connectParams = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

// rawID strips the "containerd://" prefix of an agent-side container ID.
func rawID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// podLogDir is the pod's log directory, kubelet's layout.
func (r *Runtime) podLogDir(namespace, name string, uid types.UID) string {
	return filepath.Join(r.opts.PodLogDir, namespace+"_"+name+"_"+string(uid))
}

func (r *Runtime) podCgroup(uid types.UID) string {
	return r.opts.CgroupRoot + "/pod" + string(uid)
}

// Clients are the runtime's CRI clients on its connection, for the
// agent's other CRI users (image GC, log rotation, stats).
func (r *Runtime) Clients() (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient) {
	return r.rt, r.img
}

// ReopenContainerLog makes the runtime reopen a container's log file,
// after the agent rotated it.
func (r *Runtime) ReopenContainerLog(ctx context.Context, containerID string) error {
	cctx, cancel := r.call(ctx)
	defer cancel()
	if _, err := r.rt.ReopenContainerLog(cctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: rawID(containerID)}); err != nil {
		return fmt.Errorf("ReopenContainerLog %s: %w", containerID, err)
	}
	return nil
}
