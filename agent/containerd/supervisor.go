package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Supervisor runs one containerd for the agent. Fill in the fields, then
// call Start once.
type Supervisor struct {
	// DataDir is the agent's data directory; containerd lives in
	// <DataDir>/containerd (config, root, state, socket, log).
	DataDir string
	// Binary is containerd's path (default /usr/bin/containerd).
	Binary string
	// RuncBinary is runc's path (default /usr/sbin/runc).
	RuncBinary string
	// SandboxImage is the pause image, already imported into the "k8s.io"
	// namespace (nothing is pulled for it). Required.
	SandboxImage string
	// CNIBinDir holds the CNI plugins (default /usr/lib/cni); CNIConfDir
	// the agent's conflist (default <DataDir>/cni/net.d).
	CNIBinDir, CNIConfDir string
	// StreamAddress and StreamPort are where the CRI streaming server
	// (exec, attach, port-forward) listens: default 127.0.0.1, port 0
	// (random).
	StreamAddress string
	StreamPort    int
	// Snapshotter defaults to overlayfs.
	Snapshotter string
	// ReadyTimeout bounds each wait for the CRI service (default 1m);
	// StopTimeout is how long SIGTERM may take before SIGKILL (10s).
	ReadyTimeout, StopTimeout time.Duration
	// BackoffInitial and BackoffMax pace restarts (default 1s and 30s).
	BackoffInitial, BackoffMax time.Duration
	// Clock paces restarts and waits (default the real clock).
	Clock clock.Clock

	paths Paths
	done  chan struct{}

	mu   sync.Mutex
	proc *process
}

// process is one run of the daemon.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when Wait returned
	err     error         // Wait's result, set before exited closes
	started time.Time
}

// Endpoint is the CRI endpoint (unix://...) of a containerd under dataDir.
func Endpoint(dataDir string) string { return "unix://" + PathsFor(dataDir).Socket }

// Paths are the supervisor's file locations (valid after Start).
func (s *Supervisor) Paths() Paths { return s.paths }

// Done is closed once containerd has stopped after the context of Start
// ended. Callers that remove the data directory wait for it.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Start writes the config, starts containerd and waits until its CRI
// service answers. It returns the CRI endpoint. Afterwards containerd is
// restarted whenever it exits, until ctx ends; then it is stopped.
func (s *Supervisor) Start(ctx context.Context) (string, error) {
	if err := s.defaults(); err != nil {
		return "", err
	}
	p := s.paths
	for _, d := range []string{p.Dir, p.Root, p.State, p.Opt, s.CNIConfDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return "", err
		}
	}
	s.stopStale()
	cfg := renderConfig(configParams{Paths: p, SandboxImage: s.SandboxImage, CNIBinDir: s.CNIBinDir,
		CNIConfDir: s.CNIConfDir, RuncBinary: s.RuncBinary, StreamAddress: s.StreamAddress,
		StreamPort: s.StreamPort, Snapshotter: s.Snapshotter})
	if err := os.WriteFile(p.Config, []byte(cfg), 0o600); err != nil {
		return "", err
	}
	// Retry connecting often: the socket appears only once containerd runs.
	conn, err := grpc.NewClient("unix://"+p.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 2 * time.Second,
			Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}))
	if err != nil {
		return "", err
	}
	proc, err := s.start(ctx, conn)
	if err != nil {
		conn.Close()
		return "", err
	}
	s.done = make(chan struct{})
	go s.supervise(ctx, conn, proc)
	return "unix://" + p.Socket, nil
}

func (s *Supervisor) defaults() error {
	if s.DataDir == "" {
		return errors.New("containerd: DataDir is required")
	}
	if s.SandboxImage == "" {
		return errors.New("containerd: SandboxImage is required")
	}
	abs, err := filepath.Abs(s.DataDir)
	if err != nil {
		return err
	}
	s.DataDir = abs
	s.paths = PathsFor(abs)
	// A unix socket path is limited to 107 bytes.
	if len(s.paths.TTRPC) > 100 {
		return fmt.Errorf("containerd: data directory %q is too long for a unix socket path", abs)
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.Binary, "/usr/bin/containerd")
	def(&s.RuncBinary, "/usr/sbin/runc")
	def(&s.CNIBinDir, "/usr/lib/cni")
	def(&s.CNIConfDir, filepath.Join(abs, "cni", "net.d"))
	def(&s.StreamAddress, "127.0.0.1")
	def(&s.Snapshotter, "overlayfs")
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&s.ReadyTimeout, time.Minute)
	defd(&s.StopTimeout, 10*time.Second)
	defd(&s.BackoffInitial, time.Second)
	defd(&s.BackoffMax, 30*time.Second)
	if s.Clock == nil {
		s.Clock = clock.RealClock{}
	}
	if _, err := os.Stat(s.Binary); err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	return nil
}

// startAttempts bounds how often the first start is tried when containerd
// dies while starting (killed, or a leftover still holding its files): a
// config it rejects fails every time and should be reported soon.
const startAttempts = 3

// errExited says containerd exited before its CRI service answered.
var errExited = errors.New("containerd exited during start-up")

// start runs containerd for the first time, trying again after
// BackoffInitial when it dies during start-up.
func (s *Supervisor) start(ctx context.Context, conn *grpc.ClientConn) (*process, error) {
	for attempt := 1; ; attempt++ {
		p, err := s.run(ctx, conn)
		if err == nil || attempt == startAttempts || ctx.Err() != nil || !errors.Is(err, errExited) {
			return p, err
		}
		klog.Background().Error(err, "starting containerd; trying again", "attempt", attempt)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.Clock.After(s.BackoffInitial):
		}
	}
}

// run starts the daemon and waits until the CRI Version RPC answers.
func (s *Supervisor) run(ctx context.Context, conn *grpc.ClientConn) (*process, error) {
	log, err := os.OpenFile(s.paths.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own descriptor
	cmd := exec.Command(s.Binary, "--config", s.paths.Config)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a terminal's Ctrl-C reaches the agent only,
	// which then stops containerd in order. Pdeathsig stops it should the
	// agent die without doing so.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting containerd: %w", err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), started: s.Clock.Now()}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if err := os.WriteFile(s.paths.PIDFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		klog.Background().Error(err, "writing containerd's pid file")
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	if err := s.waitReady(ctx, conn, p); err != nil {
		s.stop(p)
		return nil, err
	}
	klog.Background().Info("containerd is ready", "pid", cmd.Process.Pid, "endpoint", s.paths.Socket, "log", s.paths.Log)
	return p, nil
}

func (s *Supervisor) waitReady(ctx context.Context, conn *grpc.ClientConn, p *process) error {
	client := runtimeapi.NewRuntimeServiceClient(conn)
	deadline := s.Clock.Now().Add(s.ReadyTimeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.Version(cctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("%w (%v); see %s", errExited, p.err, s.paths.Log)
		case <-s.Clock.After(100 * time.Millisecond):
		}
		if s.Clock.Now().After(deadline) {
			return fmt.Errorf("containerd's CRI service did not answer within %s: %v; see %s", s.ReadyTimeout, err, s.paths.Log)
		}
	}
}

// supervise restarts containerd when it exits and stops it when ctx ends.
func (s *Supervisor) supervise(ctx context.Context, conn *grpc.ClientConn, p *process) {
	defer close(s.done)
	defer conn.Close()
	logger := klog.Background()
	delay := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			s.stop(p)
			return
		case <-p.exited:
		}
		logger.Error(p.err, "containerd exited; restarting", "log", s.paths.Log)
		for {
			// Back off only when it keeps dying soon after starting.
			switch ran := s.Clock.Since(p.started); {
			case ran > 2*s.BackoffMax:
				delay = 0
			case delay == 0:
				delay = s.BackoffInitial
			default:
				delay = min(2*delay, s.BackoffMax)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.Clock.After(delay):
			}
			np, err := s.run(ctx, conn)
			if err == nil {
				p = np
				break
			}
			if ctx.Err() != nil {
				return
			}
			logger.Error(err, "restarting containerd")
			p = &process{started: s.Clock.Now()}
		}
	}
}

// stop sends SIGTERM, then SIGKILL after StopTimeout, and waits for exit.
// Only containerd's own pid is signalled: the shims keep running.
func (s *Supervisor) stop(p *process) {
	if p == nil || p.cmd == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-s.Clock.After(s.StopTimeout):
		klog.Background().Info("containerd did not stop in time; killing it", "timeout", s.StopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_ = os.Remove(s.paths.PIDFile)
}

// stopStale stops a containerd left running on this data directory by an
// agent that died without stopping it (its command line names our config).
func (s *Supervisor) stopStale() {
	b, err := os.ReadFile(s.paths.PIDFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 1 {
		return
	}
	isOurs := func() bool {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return err == nil && bytes.Contains(cmdline, []byte(s.paths.Config))
	}
	if !isOurs() {
		return
	}
	klog.Background().Info("stopping a containerd left over from an earlier run", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := s.Clock.Now().Add(s.StopTimeout)
	for isOurs() && s.Clock.Now().Before(deadline) {
		<-s.Clock.After(50 * time.Millisecond)
	}
	if isOurs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for isOurs() {
			<-s.Clock.After(50 * time.Millisecond)
		}
	}
}
