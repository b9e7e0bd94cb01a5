package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Every container of a pod, init ones included, sees the agent's managed
// /etc/hosts as kubelet writes it: its IP named by host name and FQDN,
// then the hostAliases; read-write, kept in the pod's directory and gone
// with the pod. A container mounting its own /etc/hosts keeps it, and a
// hostNetwork pod gets the node's file plus its aliases. Nothing here
// leaves the pod: DNS points at the pod's own loopback, so `hostname -i`
// can only be answered from /etc/hosts.
func TestEtcHosts(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	ctx := context.Background()
	aliases := []corev1.HostAlias{{IP: "127.0.0.2", Hostnames: []string{"foo.local", "bar.local"}}, {IP: "127.0.0.3", Hostnames: []string{"baz.local"}}}
	loopbackDNS := func(s *corev1.PodSpec) {
		s.DNSPolicy = corev1.DNSNone
		s.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"127.0.0.1"}}
	}

	managed := shPod("managed", `cat /etc/hosts; echo "ip=$(hostname -i)"; echo "fqdn=$(hostname -f)"; echo '# written by the pod' >> /etc/hosts && echo rw-ok`)
	managed.Spec.Hostname, managed.Spec.Subdomain, managed.Spec.HostAliases = "web-0", "hosts", aliases
	loopbackDNS(&managed.Spec)
	managed.Spec.InitContainers = []corev1.Container{{Name: "init", Image: busybox, Command: []string{"sh", "-c",
		`grep -qx '# Kubernetes-managed hosts file.' /etc/hosts && grep -q '^127.0.0.2	foo.local	bar.local$' /etc/hosts`}}}

	// A container with its own /etc/hosts (a configMap key) keeps it.
	if _, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hosts"},
		Data: map[string]string{"hosts": "# mine\n127.0.0.1\tlocalhost\n"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	own := shPod("own", "cat /etc/hosts")
	own.Spec.HostAliases = aliases
	loopbackDNS(&own.Spec)
	own.Spec.Volumes = []corev1.Volume{{Name: "hosts", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "hosts"}}}}}
	own.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "hosts", MountPath: "/etc/hosts", SubPath: "hosts"}}

	hostNet := shPod("hostnet", "cat /etc/hosts")
	hostNet.Spec.HostNetwork, hostNet.Spec.HostAliases = true, aliases

	logs := c.runOnce(t, ns, managed, own, hostNet)

	p, err := c.client.CoreV1().Pods(ns).Get(ctx, "managed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.PodIP == "" {
		t.Fatalf("pod has no IP: %+v", p.Status)
	}
	fqdn := "web-0.hosts." + ns + ".svc.cluster.local"
	want := []string{
		"# Kubernetes-managed hosts file.",
		"127.0.0.1\tlocalhost",
		"::1\tlocalhost ip6-localhost ip6-loopback",
		"fe00::2\tip6-allrouters",
		p.Status.PodIP + "\t" + fqdn + "\tweb-0",
		"# Entries added by HostAliases.",
		"127.0.0.2\tfoo.local\tbar.local",
		"127.0.0.3\tbaz.local",
		"ip=" + p.Status.PodIP,
		"fqdn=" + fqdn,
		"rw-ok",
	}
	lines := logLines(logs["managed"])
	for _, w := range want {
		if !lines[w] {
			t.Errorf("pod managed: line %q missing from its log", w)
		}
	}

	// The file lives in the pod's directory, which the container wrote
	// through (read-write), and goes with the pod.
	file := filepath.Join(c.dir, "agent", "pods", "volumes", string(p.UID), "etc-hosts")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the pod's hosts file: %v", err)
	}
	if !strings.HasSuffix(string(b), "127.0.0.3\tbaz.local\n# written by the pod\n") {
		t.Fatalf("%s does not end with the pod's write:\n%s", file, b)
	}

	if out := logs["own"]; !strings.HasPrefix(out, "# mine\n") || strings.Contains(out, "Kubernetes-managed") || strings.Contains(out, "foo.local") {
		t.Errorf("pod own: its /etc/hosts was replaced:\n%s", out)
	}

	node, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	wantHostNet := "# Kubernetes-managed hosts file (host network).\n" + string(node) +
		"\n# Entries added by HostAliases.\n127.0.0.2\tfoo.local\tbar.local\n127.0.0.3\tbaz.local\n"
	if !strings.Contains(logs["hostnet"], wantHostNet) {
		t.Errorf("pod hostnet: /etc/hosts is not the node's plus the aliases:\n%s\nwant:\n%s", logs["hostnet"], wantHostNet)
	}

	if err := c.client.CoreV1().Pods(ns).Delete(ctx, "managed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := os.Stat(filepath.Dir(file))
		return os.IsNotExist(err), nil
	})
	if err != nil {
		t.Fatalf("%s still there after the pod was deleted", filepath.Dir(file))
	}
}

// logLines is the set of a log's lines.
func logLines(log string) map[string]bool {
	set := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		set[strings.TrimRight(l, "\r")] = true
	}
	return set
}
