package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"corral/agent/image"

	"corral/test/hostclean"
)

// The pod-startup benchmark's private ranges and bridges: used by no test
// (e2e has 10.244-10.252 and corrale2e0/cmnbr*), routed to a blackhole and
// the service sink by the agents themselves.
const (
	psClusterCIDR = "10.240.0.0/16"
	psServiceCIDR = "10.241.0.0/16"
	psBridge      = "corralbench0" // the server's own node
	psAgentBridge = "corralbench1" // the standalone agent's node
	psServiceSink = "corral-svc"   // agent/network.DefaultServiceSink
	psImage       = "docker.io/corral-bench/busybox:1"
)

// proc is a corral process (server with its agent, or a standalone agent)
// with its data directory; its containerd runs under dir.
type proc struct {
	name, dir, log string
	agentDir       string // the agent's data dir: its containerd's state is under it
	cmd            *exec.Cmd
	done           chan struct{}
}

// startProc runs binary with args, logging to dir/<name>.log. The
// benchmark's busybox image goes to the agent's auto-import directory
// first.
func startProc(binary, name, dir, agentDir string, args ...string) (*proc, error) {
	imagesDir := filepath.Join(agentDir, "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return nil, err
	}
	err := image.WriteImageFile(filepath.Join(imagesDir, "busybox.tar"), func(w io.Writer) error {
		return image.BusyboxImage(w, psImage)
	})
	if err != nil {
		return nil, fmt.Errorf("building the busybox image: %w", err)
	}
	p := &proc{name: name, dir: dir, agentDir: agentDir, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM (the process stops its containerd), then kills the
// process group after 30 s, then whatever still names its data dir
// (containerd, shims).
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	hostclean.KillMentioning(p.dir)
}

func (p *proc) rss() (float64, error) { return pidRSS(p.cmd.Process.Pid) }

// containerdRSS is the RSS of the containerd this process supervises
// (the one whose command line names its data dir).
func (p *proc) containerdRSS() (float64, error) {
	for _, pid := range hostclean.PIDsMentioning(p.agentDir) {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasSuffix(strings.SplitN(string(cmdline), "\x00", 2)[0], "containerd") {
			return pidRSS(pid)
		}
	}
	return 0, fmt.Errorf("no containerd under %s", p.agentDir)
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// realCluster is `corral server` with its own node agent on this machine.
type realCluster struct {
	server    *proc
	config    *restclient.Config
	client    kubernetes.Interface
	url       string
	nodeName  string
	criSocket string
}

func startRealCluster(ctx context.Context, binary, dir string) (*realCluster, error) {
	ports := make([]int, 4)
	var err error
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	c := &realCluster{nodeName: "bench-node", url: "https://127.0.0.1:" + strconv.Itoa(ports[0]),
		criSocket: filepath.Join(dir, "agent", "containerd", "containerd.sock")}
	c.server, err = startProc(binary, "server", dir, filepath.Join(dir, "agent"), "server", "--data-dir", dir,
		"--bind-address", "127.0.0.1", "--https-listen-port", strconv.Itoa(ports[0]),
		"--etcd-client-port", strconv.Itoa(ports[1]), "--etcd-peer-port", strconv.Itoa(ports[2]),
		"--cluster-cidr", psClusterCIDR, "--service-cidr", psServiceCIDR, "--node-name", c.nodeName,
		"--agent-port", strconv.Itoa(ports[3]), "--cni-bridge", psBridge)
	if err != nil {
		return nil, err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if c.client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig.yaml"))
			if err != nil {
				return false, nil
			}
			cfg.QPS, cfg.Burst = 1000, 1000
			if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
			c.config = cfg
		}
		return nodeReady(ctx, c.client, c.nodeName), nil
	})
	if err != nil {
		c.server.stop()
		return nil, fmt.Errorf("node %s not Ready: %v\n%s", c.nodeName, err, c.server.tail())
	}
	return c, nil
}

// nodeReady tells whether the node has its pod CIDR (so its CNI config
// is written) and is Ready.
func nodeReady(ctx context.Context, c kubernetes.Interface, name string) bool {
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil || n.Spec.PodCIDR == "" {
		return false
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// startAgent joins a standalone `corral agent` to the cluster, in the
// host's network namespace with its own data dir, bridge and ports.
func (c *realCluster) startAgent(ctx context.Context, binary, serverDir, dir string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	token, err := readTrimmed(filepath.Join(serverDir, "token"))
	if err != nil {
		return nil, "", err
	}
	name := "bench-agent"
	a, err := startProc(binary, "agent", dir, dir, "agent", "--server", c.url, "--token", token,
		"--ca-file", filepath.Join(serverDir, "tls", "ca.crt"), "--data-dir", dir, "--node-name", name,
		"--node-ip", "127.0.0.1", "--agent-port", strconv.Itoa(port), "--cni-bridge", psAgentBridge,
		"--cluster-cidr", psClusterCIDR, "--service-cidr", psServiceCIDR)
	if err != nil {
		return nil, "", err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return nodeReady(ctx, c.client, name), nil
	})
	if err != nil {
		a.stop()
		return nil, "", fmt.Errorf("node %s not Ready: %v\n%s", name, err, a.tail())
	}
	return a, name, nil
}
