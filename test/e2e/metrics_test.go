package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// TestKubectlTop runs a pod that burns CPU (capped at 200m) and an idle
// one, and checks the real kubectl top pods|nodes against the
// metrics.k8s.io API the server computes from the agent's CRI stats, and
// the agent's own Prometheus /metrics.
func TestKubectlTop(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	busy := shPod("busy", "while :; do :; done")
	busy.Labels = map[string]string{"load": "busy"}
	busy.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}
	idle := shPod("idle", "trap 'exit 0' TERM; while :; do sleep 1; done")
	idle.Labels = map[string]string{"load": "idle"}
	c.create(t, ns, busy)
	c.create(t, ns, idle)
	c.waitPod(t, ns, "busy", time.Minute, "Running", running)
	c.waitPod(t, ns, "idle", time.Minute, "Running", running)

	// kubectl top pods: both pods, the busy one using CPU. The agent
	// samples every 10s and a rate needs two samples.
	start := time.Now()
	var top map[string][2]int64
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 45*time.Second, true, func(context.Context) (bool, error) {
		var err error
		out, err = c.kubectl(t, "top", "pods", "-n", ns, "--no-headers")
		if err != nil {
			return false, nil // "metrics not available yet" until then
		}
		top = parseTop(out)
		_, hasIdle := top["idle"]
		return top["busy"][0] >= 20 && hasIdle, nil
	})
	if err != nil {
		t.Fatalf("kubectl top pods: %v\n%s", err, out)
	}
	t.Logf("kubectl top pods after %s:\n%s", time.Since(start).Round(time.Second), out)
	if cpu := top["busy"][0]; cpu > 260 {
		t.Errorf("busy pod uses %dm, more than its 200m limit allows", cpu)
	}
	if cpu := top["idle"][0]; cpu >= top["busy"][0] {
		t.Errorf("idle pod uses %dm, busy %dm", cpu, top["busy"][0])
	}

	// The API itself: non-zero memory (kubectl rounds to Mi) and the
	// label selector.
	var pods metricsv1beta1.PodMetricsList
	rawJSON(t, c, "/apis/metrics.k8s.io/v1beta1/namespaces/"+ns+"/pods", &pods)
	if len(pods.Items) != 2 {
		t.Fatalf("pod metrics %+v: want busy and idle", pods.Items)
	}
	for _, p := range pods.Items {
		if len(p.Containers) != 1 || p.Containers[0].Name != "main" || p.Window.Duration <= 0 {
			t.Errorf("%s: containers %+v window %v", p.Name, p.Containers, p.Window)
			continue
		}
		if mem := p.Containers[0].Usage[corev1.ResourceMemory]; mem.Value() <= 0 {
			t.Errorf("%s: memory %s, want > 0", p.Name, mem.String())
		}
	}
	if out := c.mustKubectl(t, "top", "pods", "-n", ns, "-l", "load=idle", "--no-headers"); !strings.HasPrefix(out, "idle ") || strings.Contains(out, "busy") {
		t.Errorf("kubectl top pods -l load=idle:\n%s", out)
	}
	if out, err := c.kubectl(t, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/"+ns+"/pods/nope"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("metrics of a missing pod: %v\n%s", err, out)
	}

	// kubectl top nodes shows the node with some CPU and memory in use.
	out = c.mustKubectl(t, "top", "nodes", "--no-headers")
	t.Logf("kubectl top nodes:\n%s", out)
	node, ok := parseTop(out)[c.nodeName]
	if !ok || node[0] <= 0 || node[1] <= 0 {
		t.Errorf("kubectl top nodes: want %s with CPU and memory:\n%s", c.nodeName, out)
	}
	if out := c.mustKubectl(t, "get", "nodes.metrics.k8s.io"); !strings.Contains(out, c.nodeName) || !strings.Contains(out, "WINDOW") {
		t.Errorf("kubectl get nodes.metrics.k8s.io:\n%s", out)
	}

	// Which source the pods' own figures come from: containerd 1.6's
	// ListPodSandboxStats, or (when it fails) the containers' sums.
	if rt, done, err := c.criClient(); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
		cancel()
		done()
		if err != nil {
			t.Logf("ListPodSandboxStats: %v (pod figures are the containers' sums)", err)
		} else {
			t.Logf("ListPodSandboxStats: %d sandboxes, first %v", len(resp.Stats), resp.Stats[0].GetLinux().GetCpu())
		}
	}

	// The agent's /metrics, with a client certificate of the cluster CA
	// (the admin one), at the address and port the node announces.
	n, err := c.client.CoreV1().Nodes().Get(context.Background(), c.nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var host string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			host = a.Address
		}
	}
	url := fmt.Sprintf("https://%s/metrics", net.JoinHostPort(host, strconv.Itoa(int(n.Status.DaemonEndpoints.KubeletEndpoint.Port))))
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.dir, "tls", "admin.crt"), filepath.Join(c.dir, "tls", "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(certs ...tls.Certificate) (int, string) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}}
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a certificate: %d, want 401", code)
	}
	code, body := get(cert)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		fmt.Sprintf(`container_cpu_usage_seconds_total{container="main",namespace="%s",pod="busy"}`, ns),
		fmt.Sprintf(`container_memory_working_set_bytes{container="main",namespace="%s",pod="idle"}`, ns),
		fmt.Sprintf(`pod_cpu_usage_seconds_total{namespace="%s",pod="busy"}`, ns),
		"node_cpu_usage_seconds_total ", "node_memory_working_set_bytes ", "corral_agent_running_pods ",
		"scrape_error 0", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// parseTop reads kubectl top's rows (no headers; pods: NAME CPU MEMORY,
// nodes: NAME CPU CPU% MEMORY MEMORY%) into name → [millicores, MiB].
func parseTop(out string) map[string][2]int64 {
	rows := map[string][2]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		cpu, mem := int64(-1), int64(-1)
		for _, v := range f[1:] {
			if n, err := strconv.ParseInt(strings.TrimSuffix(v, "Mi"), 10, 64); err == nil && strings.HasSuffix(v, "Mi") && mem < 0 {
				mem = n
			} else if n, err := strconv.ParseInt(strings.TrimSuffix(v, "m"), 10, 64); err == nil && strings.HasSuffix(v, "m") && cpu < 0 {
				cpu = n
			}
		}
		if cpu >= 0 && mem >= 0 {
			rows[f[0]] = [2]int64{cpu, mem}
		}
	}
	return rows
}

// rawJSON GETs an API path through kubectl and decodes the answer.
func rawJSON(t *testing.T, c *cluster, path string, into any) {
	t.Helper()
	out := c.mustKubectl(t, "get", "--raw", path)
	if err := json.Unmarshal([]byte(out), into); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, out)
	}
}
