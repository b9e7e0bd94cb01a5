package volume

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"corral/agent/runtime"
)

// Paths of the managed hosts file: where containers see it, its name in
// the pod's directory (kubelet's), and the node's own.
const (
	etcHostsPath     = "/etc/hosts"
	etcHostsFileName = "etc-hosts"
	nodeHostsFile    = "/etc/hosts"
)

// Headers of kubelet's managed hosts files.
const (
	managedHostsHeader            = "# Kubernetes-managed hosts file.\n"
	managedHostsHeaderHostNetwork = "# Kubernetes-managed hosts file (host network).\n"
)

// HostsFile is where the pod's managed hosts file lives on the host; it
// goes with the pod's directory in TearDown.
func (m *Manager) HostsFile(pod *corev1.Pod) string {
	return filepath.Join(m.PodDir(pod.UID), etcHostsFileName)
}

// HostsMount writes the pod's managed hosts file and returns its mount at
// /etc/hosts, as kubelet's makeHostsMount; call it before each container
// start, once the sandbox exists, with pod.Status.PodIPs set (env.WithIPs
// fills in the sandbox's before the pod's first status). It returns nil when mounts (the container's
// resolved volumeMounts) already cover /etc/hosts, or when a pod without
// hostNetwork has no IP yet: kubelet leaves the runtime's file then.
//
// The mount is read-write, as kubelet's. The file is rewritten in place
// rather than renamed over, because running containers bind-mount its
// inode, and only when its content differs, so a sibling container never
// reads it half-written for nothing.
func (m *Manager) HostsMount(pod *corev1.Pod, mounts []runtime.Mount) (*runtime.Mount, error) {
	for _, mt := range mounts {
		if filepath.Clean(mt.ContainerPath) == etcHostsPath {
			return nil, nil
		}
	}
	if err := checkName("pod UID", string(pod.UID)); err != nil {
		return nil, err
	}
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	var nodeHosts []byte
	switch {
	case pod.Spec.HostNetwork:
		path := m.NodeHostsFile
		if path == "" {
			path = nodeHostsFile
		}
		var err error
		if nodeHosts, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("reading the node's hosts file: %w", err)
		}
	case len(ips) == 0:
		return nil, nil
	}
	domain := m.ClusterDomain
	if domain == "" {
		domain = "cluster.local"
	}
	content, err := hostsFileContent(pod, ips, domain, nodeHosts)
	if err != nil {
		return nil, err
	}
	path := m.HostsFile(pod)
	if err := writeInPlace(path, content); err != nil {
		return nil, fmt.Errorf("writing the pod's hosts file: %w", err)
	}
	return &runtime.Mount{HostPath: path, ContainerPath: etcHostsPath}, nil
}

// writeInPlace makes path hold content with mode 0644, keeping its inode.
func writeInPlace(path string, content []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, content) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644) // WriteFile's mode is filtered by the umask
}

// hostsFileContent is kubelet's hosts file for pod: with hostNetwork the
// node's file (nodeHosts) under its own header, else the loopback
// boilerplate and one line per pod IP naming the pod's host name (and its
// FQDN when it has a subdomain); both end with the pod's hostAliases.
func hostsFileContent(pod *corev1.Pod, podIPs []string, clusterDomain string, nodeHosts []byte) ([]byte, error) {
	aliases, err := hostAliasEntries(pod.Spec.HostAliases)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString(managedHostsHeaderHostNetwork)
		b.Write(nodeHosts)
		b.Write(aliases)
		return b.Bytes(), nil
	}
	host, domain, err := hostAndDomain(pod, clusterDomain)
	if err != nil {
		return nil, err
	}
	b.WriteString(managedHostsHeader)
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	for _, ip := range podIPs {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, host, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, host)
		}
	}
	b.Write(aliases)
	return b.Bytes(), nil
}

// hostAndDomain are the pod's host name and DNS domain as kubelet's
// GeneratePodHostNameAndDomain: spec.hostname or the pod name, cut to 63
// characters without a trailing '-' or '.', and
// <subdomain>.<namespace>.svc.<cluster domain> when spec.subdomain is set.
func hostAndDomain(pod *corev1.Pod, clusterDomain string) (host, domain string, err error) {
	host = pod.Name
	if h := pod.Spec.Hostname; h != "" {
		if msgs := validation.IsDNS1123Label(h); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod hostname %q is not a valid DNS label: %s", h, strings.Join(msgs, "; "))
		}
		host = h
	}
	if len(host) > validation.DNS1123LabelMaxLength {
		host = strings.TrimRight(host[:validation.DNS1123LabelMaxLength], "-.")
	}
	if host == "" {
		return "", "", fmt.Errorf("pod %q has no usable host name", pod.Name)
	}
	if s := pod.Spec.Subdomain; s != "" {
		if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod subdomain %q is not a valid DNS label: %s", s, strings.Join(msgs, "; "))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", s, pod.Namespace, clusterDomain)
	}
	return host, domain, nil
}

// hostAliasEntries is the hostAliases section, one line per entry. The
// entries are checked as upstream's API validation does (corral's does not
// yet), so a malformed one fails the start instead of garbling the file.
func hostAliasEntries(aliases []corev1.HostAlias) ([]byte, error) {
	if len(aliases) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	b.WriteString("\n# Entries added by HostAliases.\n")
	for i, a := range aliases {
		if net.ParseIP(a.IP) == nil {
			return nil, fmt.Errorf("hostAliases[%d]: %q is not an IP address", i, a.IP)
		}
		for _, h := range a.Hostnames {
			if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 {
				return nil, fmt.Errorf("hostAliases[%d]: hostname %q: %s", i, h, strings.Join(msgs, "; "))
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
	return b.Bytes(), nil
}
