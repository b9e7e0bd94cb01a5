package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"corral/storage"
	"corral/test/testserver"
)

// TestRestartKeepsObjectsAndAllocations stops a server and starts a new
// one on the same data directory.
func TestRestartKeepsObjectsAndAllocations(t *testing.T) {
	dir := t.TempDir()
	s, err := testserver.Start(testserver.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := kubernetes.NewForConfigOrDie(s.Config)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"}}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.CoreV1().Services("default").Create(ctx, nodePortService("keep"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, _ := os.ReadFile(filepath.Join(dir, "token"))
	ca, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.crt"))
	s.Stop()

	s2, err := testserver.Start(testserver.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	c2 := kubernetes.NewForConfigOrDie(s2.Config)
	got, err := c2.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("after restart: %v %v", got, err)
	}
	token2, _ := os.ReadFile(filepath.Join(dir, "token"))
	ca2, _ := os.ReadFile(filepath.Join(dir, "tls", "ca.crt"))
	if string(token) != string(token2) || string(ca) != string(ca2) {
		t.Fatal("restart changed the join token or the CA")
	}
	// The node port stays taken across the restart.
	clash := nodePortService("clash")
	clash.Spec.Ports[0].NodePort = svc.Spec.Ports[0].NodePort
	if _, err := c2.CoreV1().Services("default").Create(ctx, clash, metav1.CreateOptions{}); err == nil {
		t.Fatal("node port allocated before the restart was handed out again")
	}
}

func nodePortService(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": name},
		Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
	}}
}

// TestExternalEtcd runs the server on Debian's etcd-server (3.4), started
// by the test on loopback.
func TestExternalEtcd(t *testing.T) {
	client := startExternalEtcd(t)
	s, err := testserver.Start(testserver.Options{DatastoreEndpoint: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Cleanup()
	c := kubernetes.NewForConfigOrDie(s.Config)
	if _, err := c.CoreV1().ConfigMaps("default").Create(context.Background(),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ext"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) < 4 {
		t.Fatalf("namespaces on external etcd: %v %v", list, err)
	}
	// The objects really live in the external etcd: a second server on
	// the same endpoint sees them.
	s.Stop()
	s2, err := testserver.Start(testserver.Options{DatastoreEndpoint: []string{client}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Cleanup()
	if _, err := kubernetes.NewForConfigOrDie(s2.Config).CoreV1().ConfigMaps("default").Get(context.Background(), "ext", metav1.GetOptions{}); err != nil {
		t.Fatalf("object not in the external etcd: %v", err)
	}
}

// startExternalEtcd runs Debian's etcd on loopback ports until the test
// ends and returns its client URL; the test is skipped without etcd.
func startExternalEtcd(t *testing.T) string {
	t.Helper()
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd-server is not installed (scripts/install-deps.sh installs it)")
	}
	clientPort, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	peerPort, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	client := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, etcdBin, "--name", "ext", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "ext="+peer, "--log-level", "error")
	cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+os.Getenv("GOARCH"))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// Registered before the servers' own cleanups, so it runs after them.
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	waitForEtcd(t, client)
	return client
}

func waitForEtcd(t *testing.T, endpoint string) {
	t.Helper()
	c, err := storage.NewClient([]string{endpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Status(ctx, endpoint)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("external etcd not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
