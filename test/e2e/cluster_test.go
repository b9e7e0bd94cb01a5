package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"corral/agent/image"

	"corral/test/hostclean"
)

// Test ranges: private, routed to blackholes by the agent.
const (
	clusterCIDR = "10.244.0.0/16"
	serviceCIDR = "10.245.0.0/16"
	bridgeName  = "corrale2e0"
)

// clusterOptions tell one cluster from another on the same machine: two
// clusters running at once need their own CIDRs and bridge.
type clusterOptions struct {
	nodeName, clusterCIDR, serviceCIDR, bridge string
}

// sharedOptions are the shared cluster's.
var sharedOptions = clusterOptions{nodeName: "e2e-node", clusterCIDR: clusterCIDR, serviceCIDR: serviceCIDR, bridge: bridgeName}

// cluster is a `corral server` process with its own agent and containerd.
type cluster struct {
	dir, kubeconfig string
	opts            clusterOptions
	args            []string // the server's command line, to start it again
	cmd             *exec.Cmd
	log             *os.File
	client          *kubernetes.Clientset
	nodeName        string
	stopOnce        sync.Once
}

var (
	shared     *cluster
	sharedErr  error
	sharedOnce sync.Once
)

// sharedCluster starts the one cluster the tests share, on first use.
func sharedCluster(t *testing.T) *cluster {
	t.Helper()
	needRoot(t)
	sharedOnce.Do(func() {
		start := time.Now()
		shared, sharedErr = startCluster(sharedOptions)
		t.Logf("cluster started in %s", time.Since(start).Round(time.Millisecond))
	})
	if sharedErr != nil {
		t.Fatalf("starting the cluster: %v", sharedErr)
	}
	return shared
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startCluster starts a cluster in a new temporary directory.
func startCluster(opts clusterOptions) (*cluster, error) {
	dir, err := os.MkdirTemp("", "corral-e2e-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig.yaml"), opts: opts, nodeName: opts.nodeName}
	// Test images go to the agent's auto-import directory before start.
	imagesDir := filepath.Join(dir, "agent", "images")
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return nil, err
	}
	if err := writeTestImages(imagesDir); err != nil {
		return nil, fmt.Errorf("building test images: %w", err)
	}
	c.args = []string{"server", "--data-dir", dir, "--bind-address", "127.0.0.1",
		"--https-listen-port", fmt.Sprint(freePort()), "--etcd-client-port", fmt.Sprint(freePort()),
		"--etcd-peer-port", fmt.Sprint(freePort()), "--cluster-cidr", opts.clusterCIDR, "--service-cidr", opts.serviceCIDR,
		"--node-name", c.nodeName, "--agent-port", fmt.Sprint(freePort()), "--cni-bridge", opts.bridge}
	if err := c.startServer(); err != nil {
		return nil, err
	}
	if err := c.waitNodeReady(time.Time{}, 2*time.Minute); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startServer starts the server process (again) on the cluster's data
// directory, with extra flags if given; its output is appended to
// server.log.
func (c *cluster) startServer(extra ...string) error {
	var err error
	if c.log, err = os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return err
	}
	c.cmd = exec.Command(binary, append(append([]string(nil), c.args...), extra...)...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c.cmd.Start()
}

// waitNodeReady waits until the node has its pod CIDR and is Ready, with
// a heartbeat at or after since (a restarted agent's, not the last one
// its predecessor posted).
func (c *cluster) waitNodeReady(since time.Time, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if c.client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
			if err != nil {
				return false, nil
			}
			if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		n, err := c.client.CoreV1().Nodes().Get(ctx, c.nodeName, metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready: %v\n%s", c.nodeName, err, c.logTail())
	}
	return nil
}

// logTail is the end of the server's log, for failure messages.
func (c *cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// stop deletes what the tests left, stops the server (which stops its
// containerd), then removes what outlives them: containerd and shims, the
// containers of pods the agent could not remove in time (killing a shim
// does not kill its containers) and their pod cgroups, mounts, the bridge.
func (c *cluster) stop() {
	c.stopOnce.Do(func() {
		var uids []string
		if c.client != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
				for _, p := range pods.Items {
					uids = append(uids, string(p.UID))
				}
			}
			nss, _ := c.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "corral-e2e=true"})
			for _, ns := range nss.Items {
				_ = c.client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
			}
			_ = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
				return err == nil && len(pods.Items) == 0, nil
			})
			cancel()
		}
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		hostclean.KillMentioning(c.dir)
		hostclean.RemoveCgroups(podCgroups(uids))
		_ = exec.Command("ip", "link", "del", c.opts.bridge).Run()
		hostclean.UnmountUnder(c.dir)
		if os.Getenv("CORRAL_E2E_KEEP") == "" {
			_ = os.RemoveAll(c.dir)
		}
	})
}

// namespace creates a namespace for one test, deleted at its end.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.TrimRight(name, "-")
	ctx := context.Background()
	_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"corral-e2e": "true"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The default ServiceAccount must exist before pods are created.
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log tail:\n%s", c.logTail())
		}
		_ = c.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// kubectl runs the real kubectl 1.32 against the cluster.
func (c *cluster) kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.kubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// waitPod waits until cond holds for the named pod and returns it.
func (c *cluster) waitPod(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	start := time.Now()
	defer func() { t.Logf("pod %s/%s: %s after %s", ns, name, what, time.Since(start).Round(time.Millisecond)) }()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := c.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s/%s: waiting for %s: %v\nlast status: %+v", ns, name, what, err, statusOf(last))
	}
	return last
}

func statusOf(p *corev1.Pod) any {
	if p == nil {
		return nil
	}
	return p.Status
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// busybox is the test image: Debian's static busybox with its applets.
const busybox = "docker.io/corral-e2e/busybox:1"

// writeTestImages writes the test images as OCI tarballs into dir.
func writeTestImages(dir string) error {
	return image.WriteImageFile(filepath.Join(dir, "busybox.tar"), func(w io.Writer) error {
		return image.BusyboxImage(w, busybox)
	})
}
