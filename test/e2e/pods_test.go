package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// A Deployment applied with the real kubectl runs real containers whose
// IPs come from the node's pod CIDR, on the CNI bridge.
func TestDeploymentRunsOnTheBridge(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: httpd
        image: ` + busybox + `
        imagePullPolicy: IfNotPresent
        command: ["sh", "-c", "echo hello from $(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www"]
        volumeMounts: [{name: www, mountPath: /www}]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /index.html, port: 8080}
          periodSeconds: 1
      volumes: [{name: www, emptyDir: {}}]
`
	path := t.TempDir() + "/web.yaml"
	writeFile(t, path, manifest)
	c.mustKubectl(t, "-n", ns, "apply", "-f", path)
	c.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")

	node, err := c.client.CoreV1().Nodes().Get(context.Background(), c.nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, podCIDR, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("want 2 pods, got %d", len(pods.Items))
	}
	for _, p := range pods.Items {
		if !running(&p) || !ready(&p) {
			t.Fatalf("pod %s not running and ready: %+v", p.Name, p.Status)
		}
		ip := net.ParseIP(p.Status.PodIP)
		if ip == nil || !podCIDR.Contains(ip) {
			t.Fatalf("pod %s has IP %q outside the node's pod CIDR %s", p.Name, p.Status.PodIP, podCIDR)
		}
		cs := p.Status.ContainerStatuses[0]
		if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.ImageID == "" || cs.State.Running == nil {
			t.Fatalf("container status incomplete: %+v", cs)
		}
		// The bridge carries traffic from the host to the pod.
		body := httpGet(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/index.html")
		if !strings.Contains(body, "hello from "+p.Name) {
			t.Fatalf("pod %s answered %q", p.Name, body)
		}
	}
	// Containers of one pod share localhost and volumes.
	c.mustKubectl(t, "-n", ns, "get", "pods", "-o", "wide")
}

// Containers of one pod share the network namespace and volumes; init
// containers run first, in order.
func TestPodSharesLocalhostAndVolumes(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "init1", Image: busybox, Command: []string{"sh", "-c", "echo one > /data/order"}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
				{Name: "init2", Image: busybox, Command: []string{"sh", "-c", "echo two >> /data/order; echo served > /data/index.html"}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
			},
			Containers: []corev1.Container{
				{Name: "server", Image: busybox, Command: []string{"httpd", "-f", "-p", "9000", "-h", "/data"}, VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
				{Name: "client", Image: busybox, Command: []string{"sh", "-c", "until timeout 2 wget -q -O /data/fetched http://127.0.0.1:9000/index.html; do sleep 0.2; done; cat /data/order /data/fetched; sleep 3600"},
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
			},
			Volumes:                       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			TerminationGracePeriodSeconds: ptrInt64(1),
		},
	}
	if _, err := c.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitPod(t, ns, "shared", 2*time.Minute, "Running", running)
	var logs string
	err := wait.PollUntilContextTimeout(context.Background(), 300*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		logs, _ = c.kubectl(t, "-n", ns, "logs", "shared", "-c", "client")
		return strings.Contains(logs, "served"), nil
	})
	if err != nil {
		t.Fatalf("client never fetched from the server over localhost: logs %q", logs)
	}
	if !strings.HasPrefix(logs, "one\ntwo\n") {
		t.Fatalf("init containers did not run in order: %q", logs)
	}
}
