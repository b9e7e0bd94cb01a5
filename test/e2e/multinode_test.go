package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"corral/test/hostclean"
)

// mnCluster is a cluster of its own for the multi-node test: `corral
// server --disable-agent` on the host side of the test LAN, and one
// `corral agent` per network namespace, each with its own data dir,
// containerd, CNI bridge and pod CIDR. It shares nothing with the shared
// cluster but the kernel.
type mnCluster struct {
	dir, kubeconfig, serverURL string
	server                     *exec.Cmd
	serverDone                 chan struct{}
	client                     *kubernetes.Clientset
	lan                        *lan
	agents                     []*mnAgent
	podUIDs                    map[string]bool // pods to clean up after
}

// mnAgent is one `corral agent` process in namespace i.
type mnAgent struct {
	i              int
	name, dir, log string
	cmd            *exec.Cmd
	done           chan struct{}
}

func (a *mnAgent) bridge() string { return fmt.Sprintf("cmnbr%d", a.i) }

func startMultiNode(t *testing.T, nodes int) *mnCluster {
	t.Helper()
	l := newLAN(t, nodes)
	dir, err := os.MkdirTemp("", "corral-e2e-mn-")
	if err != nil {
		t.Fatal(err)
	}
	c := &mnCluster{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig.yaml"), lan: l, podUIDs: map[string]bool{}}
	t.Cleanup(func() { c.stop(t) })

	port := freePort()
	c.serverURL = "https://" + net.JoinHostPort(lanHostIP, fmt.Sprint(port))
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	c.server = exec.Command(binary, "server", "--data-dir", dir, "--bind-address", lanHostIP,
		"--https-listen-port", fmt.Sprint(port), "--etcd-client-port", fmt.Sprint(freePort()),
		"--etcd-peer-port", fmt.Sprint(freePort()), "--cluster-cidr", mnClusterCIDR, "--service-cidr", mnServiceCIDR,
		"--disable-agent")
	c.server.Stdout, c.server.Stderr = log, log
	c.server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.server.Start(); err != nil {
		t.Fatal(err)
	}
	c.serverDone = make(chan struct{})
	go func() { _ = c.server.Wait(); close(c.serverDone) }()
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if c.client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
			if err != nil {
				return false, nil
			}
			if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		_, err := c.client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("server not serving: %v\n%s", err, tail(filepath.Join(dir, "server.log"), 6000))
	}
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= nodes; i++ {
		c.startAgent(t, i, strings.TrimSpace(string(token)))
	}
	return c
}

// startAgent starts `corral agent` in namespace i with the test images in
// its auto-import directory.
func (c *mnCluster) startAgent(t *testing.T, i int, token string) {
	t.Helper()
	a := &mnAgent{i: i, name: fmt.Sprintf("mn-node%d", i), dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i)),
		log: filepath.Join(c.dir, fmt.Sprintf("node%d.log", i))}
	if err := os.MkdirAll(filepath.Join(a.dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeTestImages(filepath.Join(a.dir, "images")); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// Every agent listens on port 10250 of its own namespace's address.
	a.cmd = c.lan.command(i, binary, "agent", "--server", c.serverURL, "--token", token,
		"--ca-file", filepath.Join(c.dir, "tls", "ca.crt"), "--data-dir", a.dir, "--node-name", a.name,
		"--node-ip", c.lan.nodeIP(i), "--cni-bridge", a.bridge(), "--cluster-cidr", mnClusterCIDR,
		"--service-cidr", mnServiceCIDR, "--node-labels", "corral-e2e/lan=mn")
	a.cmd.Stdout, a.cmd.Stderr = log, log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.done = make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	c.agents = append(c.agents, a)
}

// logs returns the ends of the server's and agents' logs.
func (c *mnCluster) logs() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- server.log\n%s\n", tail(filepath.Join(c.dir, "server.log"), 3000))
	for _, a := range c.agents {
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(a.log), tail(a.log, 4000))
	}
	return b.String()
}

func (c *mnCluster) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stop deletes the pods while the agents still run (so they remove their
// cgroups), stops the agents, their containerds and shims, unmounts what
// is left under the data dir, stops the server; the LAN goes last (its
// own cleanup).
func (c *mnCluster) stop(t *testing.T) {
	if c.client != nil && len(c.agents) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		pods, _ := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if pods != nil {
			for _, p := range pods.Items {
				c.podUIDs[string(p.UID)] = true
			}
		}
		_ = c.client.AppsV1().Deployments("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			pods, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			return err == nil && len(pods.Items) == 0, nil
		})
		cancel()
	}
	for _, a := range c.agents {
		stopProcess(a.cmd, a.done, 30*time.Second)
		hostclean.KillMentioning(a.dir)
	}
	var uids []string
	for uid := range c.podUIDs {
		uids = append(uids, uid)
	}
	if left := hostclean.RemoveCgroups(podCgroups(uids)); len(left) > 0 {
		t.Errorf("cleanup: pod cgroups left: %v", left)
	}
	hostclean.UnmountUnder(c.dir)
	// Nothing of the nodes may outlive the test.
	time.Sleep(200 * time.Millisecond)
	if left := hostclean.ProcessesMentioning(c.dir); len(left) > 0 {
		t.Errorf("cleanup: processes left: %v", left)
	}
	if left := hostclean.MountsUnder(c.dir); len(left) > 0 {
		t.Errorf("cleanup: mounts left: %v", left)
	}
	stopProcess(c.server, c.serverDone, 30*time.Second)
	if os.Getenv("CORRAL_E2E_KEEP") == "" {
		_ = os.RemoveAll(c.dir)
	}
}

// TestMultiNode joins two real agents, each in its own network namespace
// on a test LAN, to a server on the host, and runs a spread Deployment on
// both; logs and exec reach the agents through the API server.
func TestMultiNode(t *testing.T) {
	needRoot(t)
	start := time.Now()
	c := startMultiNode(t, 2)
	ctx := context.Background()
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", c.logs())
		}
	}()

	// Both nodes register Ready with real capacity and a pod CIDR each.
	podCIDRs := map[string]*net.IPNet{}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, a := range c.agents {
			n, err := c.client.CoreV1().Nodes().Get(ctx, a.name, metav1.GetOptions{})
			if err != nil || n.Spec.PodCIDR == "" || !nodeReady(n) || n.Status.Capacity.Cpu().IsZero() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("nodes not Ready: %v", err)
	}
	t.Logf("cluster of 2 joined nodes Ready after %s", time.Since(start).Round(time.Millisecond))
	for _, a := range c.agents {
		n, err := c.client.CoreV1().Nodes().Get(ctx, a.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		capa := n.Status.Capacity
		if capa.Cpu().Value() < 1 || capa.Memory().Value() < 1<<28 || capa.StorageEphemeral().Value() <= 0 || capa.Pods().Value() != 110 {
			t.Errorf("node %s capacity: %v", a.name, capa)
		}
		var ip string
		for _, addr := range n.Status.Addresses {
			if addr.Type == corev1.NodeInternalIP {
				ip = addr.Address
			}
		}
		if ip != c.lan.nodeIP(a.i) || n.Labels["corral-e2e/lan"] != "mn" || n.Labels["kubernetes.io/hostname"] != a.name {
			t.Errorf("node %s: InternalIP %q (want %s), labels %v", a.name, ip, c.lan.nodeIP(a.i), n.Labels)
		}
		_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil {
			t.Fatal(err)
		}
		podCIDRs[a.name] = cidr
		t.Logf("node %s: ip %s, pod CIDR %s, capacity cpu=%s memory=%s pods=%s", a.name, ip, cidr, capa.Cpu(), capa.Memory(), capa.Pods())
	}

	// Before any pod runs, each namespace routes the cluster range to a
	// blackhole and the service range to the sink, and has no default route.
	for _, a := range c.agents {
		routes := run(t, "ip", "-n", c.lan.nodes[a.i-1], "route", "show")
		for _, want := range []string{"blackhole " + mnClusterCIDR, mnServiceCIDR + " dev corral-svc"} {
			if !strings.Contains(routes, want) {
				t.Errorf("netns of %s lacks route %q:\n%s", a.name, want, routes)
			}
		}
		if strings.Contains(routes, "default") {
			t.Errorf("netns of %s has a default route:\n%s", a.name, routes)
		}
	}

	// A Deployment of 4 spread by topology over the two nodes.
	manifest := filepath.Join(c.dir, "spread.yaml")
	// Its projected volume makes the agents read a ConfigMap and a Secret
	// with the join token's credentials. (No serviceAccountToken source:
	// the API server does not serve serviceaccounts/token yet.)
	writeFile(t, manifest, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: mn-config, namespace: default}
data: {greeting: hi-from-configmap}
---
apiVersion: v1
kind: Secret
metadata: {name: mn-secret, namespace: default}
stringData: {password: hi-from-secret}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread, namespace: default}
spec:
  replicas: 4
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      terminationGracePeriodSeconds: 1
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
      containers:
      - name: main
        image: %s
        imagePullPolicy: Never
        command: ["sh", "-c", "echo hello from $(hostname) $(cat /vol/greeting) $(cat /vol/password); exec sleep 3600"]
        volumeMounts: [{name: vol, mountPath: /vol}]
      volumes:
      - name: vol
        projected:
          sources:
          - configMap: {name: mn-config}
          - secret: {name: mn-secret}
`, busybox))
	c.kubectl(t, "apply", "-f", manifest)
	var pods []corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=spread"})
		if err != nil {
			return false, nil
		}
		pods = l.Items
		if len(pods) != 4 {
			return false, nil
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("deployment not running: %v\n%s", err, describePods(pods))
	}
	t.Logf("4 pods Running after %s", time.Since(start).Round(time.Millisecond))
	byNode := map[string][]corev1.Pod{}
	for _, p := range pods {
		c.podUIDs[string(p.UID)] = true
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		cidr := podCIDRs[p.Spec.NodeName]
		if cidr == nil || !cidr.Contains(net.ParseIP(p.Status.PodIP)) {
			t.Errorf("pod %s on %s has IP %s, not from the node's pod CIDR %v", p.Name, p.Spec.NodeName, p.Status.PodIP, cidr)
		}
		if p.Status.HostIP != c.lan.nodeIP(nodeIndex(p.Spec.NodeName)) {
			t.Errorf("pod %s on %s: hostIP %s", p.Name, p.Spec.NodeName, p.Status.HostIP)
		}
	}
	for _, a := range c.agents {
		if len(byNode[a.name]) != 2 {
			t.Fatalf("want 2 pods on each node, got %s", describePods(pods))
		}
	}

	// Each node's own pod CIDR is on its CNI bridge (made with the first pod).
	for _, a := range c.agents {
		want := podCIDRs[a.name].String() + " dev " + a.bridge()
		if routes := run(t, "ip", "-n", c.lan.nodes[a.i-1], "route", "show"); !strings.Contains(routes, want) {
			t.Errorf("netns of %s lacks route %q:\n%s", a.name, want, routes)
		}
	}

	// logs and exec of a pod on node 2 go API server -> agent in its netns.
	on2 := byNode["mn-node2"]
	p := on2[0]
	if out := c.kubectl(t, "logs", p.Name); !strings.Contains(out, "hello from "+p.Name+" hi-from-configmap hi-from-secret") {
		t.Errorf("kubectl logs %s: %q", p.Name, out)
	}
	if out := c.kubectl(t, "exec", p.Name, "--", "sh", "-c", "echo exec-$((6*7)) $(hostname)"); strings.TrimSpace(out) != "exec-42 "+p.Name {
		t.Errorf("kubectl exec %s: %q", p.Name, out)
	}
	// Pods on one node reach each other over its bridge.
	if out := c.kubectl(t, "exec", p.Name, "--", "ping", "-c", "1", "-W", "2", on2[1].Status.PodIP); !strings.Contains(out, "1 packets received") {
		t.Errorf("ping between the pods of node 2: %s", out)
	}
	// Across nodes there are no routes yet (a later issue): the other
	// node's pod CIDR falls into the cluster blackhole of the namespace.
	other := byNode["mn-node1"][0].Status.PodIP
	route, _ := exec.Command("ip", "-n", c.lan.nodes[1], "route", "get", other).CombinedOutput()
	t.Logf("node 2 -> pod %s on node 1: ip route get says %q (cross-node pod routes are not built yet)", other, strings.TrimSpace(string(route)))

	// Node 2 dies: its agent is killed and its Node deleted; pod GC
	// removes its pods and the Deployment replaces them on node 1.
	a2 := c.agents[1]
	_ = syscall.Kill(-a2.cmd.Process.Pid, syscall.SIGKILL)
	<-a2.done
	hostclean.KillMentioning(a2.dir)
	if err := c.client.CoreV1().Nodes().Delete(ctx, a2.name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	died := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=spread"})
		if err != nil {
			return false, nil
		}
		pods = l.Items
		if len(pods) != 4 {
			return false, nil
		}
		for _, p := range pods {
			if p.Spec.NodeName != "mn-node1" || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
		}
		return true, nil
	})
	for _, p := range pods {
		c.podUIDs[string(p.UID)] = true
	}
	if err != nil {
		t.Fatalf("pods of the dead node not replaced: %v\n%s", err, describePods(pods))
	}
	t.Logf("pods of the deleted node replaced on node 1 %s after the deletion", time.Since(died).Round(time.Millisecond))
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeIndex is i of "mn-node<i>".
func nodeIndex(name string) int {
	var i int
	_, _ = fmt.Sscanf(name, "mn-node%d", &i)
	return i
}

func describePods(pods []corev1.Pod) string {
	var lines []string
	for _, p := range pods {
		lines = append(lines, fmt.Sprintf("%s node=%s phase=%s ip=%s reason=%s", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.PodIP, p.Status.Reason))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
