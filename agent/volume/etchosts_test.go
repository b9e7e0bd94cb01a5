package volume

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"corral/agent/runtime"
)

const boilerplate = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func hostsPod(name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: "uid-1"}}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func TestHostsFileContent(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b" // 64 characters, cut to 62 after dropping '-'
	aliases := []corev1.HostAlias{
		{IP: "127.0.0.2", Hostnames: []string{"foo.local", "bar.local"}},
		{IP: "::2", Hostnames: []string{"six.local"}},
	}
	const aliasSection = "\n# Entries added by HostAliases.\n127.0.0.2\tfoo.local\tbar.local\n::2\tsix.local\n"
	nodeHosts := []byte("127.0.0.1 localhost\n192.0.2.1 node1\n")
	tests := []struct {
		name    string
		pod     *corev1.Pod
		ips     []string
		want    string
		wantErr string
	}{
		{name: "pod name", pod: hostsPod("web", nil), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\tweb\n"},
		{name: "hostname", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Hostname = "db-0" }), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\tdb-0\n"},
		{name: "subdomain", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Hostname, s.Subdomain = "db-0", "db" }), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\tdb-0.db.ns.svc.cluster.local\tdb-0\n"},
		{name: "subdomain with pod name", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Subdomain = "db" }), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\tweb.db.ns.svc.cluster.local\tweb\n"},
		{name: "dual stack", pod: hostsPod("web", nil), ips: []string{"10.244.0.5", "fd00::5"},
			want: boilerplate + "10.244.0.5\tweb\nfd00::5\tweb\n"},
		{name: "dual stack with subdomain", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Subdomain = "db" }), ips: []string{"10.244.0.5", "fd00::5"},
			want: boilerplate + "10.244.0.5\tweb.db.ns.svc.cluster.local\tweb\nfd00::5\tweb.db.ns.svc.cluster.local\tweb\n"},
		{name: "long pod name", pod: hostsPod(long, nil), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\t" + strings.Repeat("a", 62) + "\n"},
		{name: "host aliases", pod: hostsPod("web", func(s *corev1.PodSpec) { s.HostAliases = aliases }), ips: []string{"10.244.0.5"},
			want: boilerplate + "10.244.0.5\tweb\n" + aliasSection},
		{name: "host network", pod: hostsPod("web", func(s *corev1.PodSpec) { s.HostNetwork = true; s.Hostname = "ignored" }), ips: []string{"192.0.2.1"},
			want: "# Kubernetes-managed hosts file (host network).\n" + string(nodeHosts)},
		{name: "host network with aliases", pod: hostsPod("web", func(s *corev1.PodSpec) { s.HostNetwork = true; s.HostAliases = aliases }),
			want: "# Kubernetes-managed hosts file (host network).\n" + string(nodeHosts) + aliasSection},
		{name: "invalid hostname", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Hostname = "Not_A_Label" }), ips: []string{"10.244.0.5"},
			wantErr: "not a valid DNS label"},
		{name: "invalid subdomain", pod: hostsPod("web", func(s *corev1.PodSpec) { s.Subdomain = "a.b" }), ips: []string{"10.244.0.5"},
			wantErr: "not a valid DNS label"},
		{name: "invalid alias IP", pod: hostsPod("web", func(s *corev1.PodSpec) {
			s.HostAliases = []corev1.HostAlias{{IP: "nope", Hostnames: []string{"a"}}}
		}), ips: []string{"10.244.0.5"}, wantErr: "not an IP address"},
		{name: "alias hostname with a newline", pod: hostsPod("web", func(s *corev1.PodSpec) {
			s.HostAliases = []corev1.HostAlias{{IP: "127.0.0.2", Hostnames: []string{"a\n10.0.0.1\tb"}}}
		}), ips: []string{"10.244.0.5"}, wantErr: "hostname"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hostsFileContent(tt.pod, tt.ips, "cluster.local", nodeHosts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("content:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestHostsMount(t *testing.T) {
	root := t.TempDir()
	node := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(node, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Manager{RootDir: root, NodeHostsFile: node, ClusterDomain: "corral.test"}
	p := hostsPod("web", func(s *corev1.PodSpec) { s.Subdomain = "db" })

	// No IP yet: the runtime's file stays, as kubelet leaves it.
	if mt, err := m.HostsMount(p, nil); err != nil || mt != nil {
		t.Fatalf("without an IP: mount %+v, err %v", mt, err)
	}
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}}
	mt, err := m.HostsMount(p, []runtime.Mount{{HostPath: "/x", ContainerPath: "/data"}})
	if err != nil {
		t.Fatal(err)
	}
	want := runtime.Mount{HostPath: filepath.Join(root, "uid-1", "etc-hosts"), ContainerPath: "/etc/hosts"}
	if mt == nil || *mt != want {
		t.Fatalf("mount %+v, want %+v (read-write)", mt, want)
	}
	if got := readFile(t, want.HostPath); !strings.HasSuffix(got, "10.244.0.5\tweb.db.ns.svc.corral.test\tweb\n") {
		t.Fatalf("content:\n%s", got)
	}
	if got := mode(t, want.HostPath); got != 0o644 {
		t.Fatalf("mode %v, want 0644", got)
	}

	// A later start rewrites the same inode (containers bind-mount it).
	before := inode(t, want.HostPath)
	p.Spec.HostAliases = []corev1.HostAlias{{IP: "127.0.0.2", Hostnames: []string{"alias.local"}}}
	if _, err := m.HostsMount(p, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(readFile(t, want.HostPath), "127.0.0.2\talias.local\n") {
		t.Fatalf("aliases missing:\n%s", readFile(t, want.HostPath))
	}
	if inode(t, want.HostPath) != before {
		t.Fatal("the hosts file was replaced, not rewritten in place")
	}

	// A container that mounts its own /etc/hosts keeps it.
	if mt, err := m.HostsMount(p, []runtime.Mount{{HostPath: "/x", ContainerPath: "/etc/hosts/"}}); err != nil || mt != nil {
		t.Fatalf("own /etc/hosts: mount %+v, err %v", mt, err)
	}

	// hostNetwork: the node's file, no pod IP needed.
	hn := hostsPod("hn", func(s *corev1.PodSpec) { s.HostNetwork = true })
	hn.UID = "uid-2"
	if mt, err = m.HostsMount(hn, nil); err != nil || mt == nil {
		t.Fatalf("hostNetwork: mount %+v, err %v", mt, err)
	}
	if got := readFile(t, mt.HostPath); got != "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n" {
		t.Fatalf("hostNetwork content:\n%s", got)
	}

	// The file goes with the pod's directory.
	if err := m.TearDown(p.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want.HostPath); !os.IsNotExist(err) {
		t.Fatalf("hosts file left after TearDown: %v", err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}
