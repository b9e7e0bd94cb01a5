package env

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldValue returns a downward API field of pod: metadata.name,
// metadata.namespace, metadata.uid, metadata.labels['k'],
// metadata.annotations['k'], metadata.labels and metadata.annotations
// (all of them as sorted k="v" lines), spec.nodeName,
// spec.serviceAccountName, status.hostIP(s) and status.podIP(s) (plural
// forms comma-separated). IPs are read from pod.Status: callers fill them
// from the sandbox and the node before the API pod has them (WithIPs).
func FieldValue(pod *corev1.Pod, path string) (string, error) {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, len(pod.Status.HostIPs))
		for i, ip := range pod.Status.HostIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, len(pod.Status.PodIPs))
		for i, ip := range pod.Status.PodIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses prefix['key'] (as in metadata.labels['app']).
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations as downward API files do:
// one k="v" line per key, sorted, values quoted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// WithIPs returns pod, or a copy of it whose status carries podIPs (the
// sandbox's, first primary) and hostIPs (the node's) where the API pod
// has none yet. The sandbox's IPs win over the status's, as kubelet's:
// a recreated sandbox has new ones and the status may not say so yet.
func WithIPs(pod *corev1.Pod, podIPs, hostIPs []string) *corev1.Pod {
	needPod := len(podIPs) > 0 && !sameIPs(pod.Status.PodIPs, podIPs)
	needHost := len(pod.Status.HostIPs) == 0 && pod.Status.HostIP == "" && len(hostIPs) > 0
	if !needPod && !needHost {
		return pod
	}
	cp := *pod
	cp.Status = *pod.Status.DeepCopy()
	if needPod {
		cp.Status.PodIP, cp.Status.PodIPs = podIPs[0], nil
		for _, ip := range podIPs {
			cp.Status.PodIPs = append(cp.Status.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	if needHost {
		cp.Status.HostIP = hostIPs[0]
		for _, ip := range hostIPs {
			cp.Status.HostIPs = append(cp.Status.HostIPs, corev1.HostIP{IP: ip})
		}
	}
	return &cp
}

func sameIPs(status []corev1.PodIP, ips []string) bool {
	if len(status) != len(ips) {
		return false
	}
	for i, ip := range status {
		if ip.IP != ips[i] {
			return false
		}
	}
	return true
}

// NodeIPs returns the node's addresses usable as host IPs: internal
// ones first, external ones when there is no internal one.
func NodeIPs(node *corev1.Node) []string {
	var internal, external []string
	if node == nil {
		return nil
	}
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeInternalIP:
			internal = append(internal, a.Address)
		case corev1.NodeExternalIP:
			external = append(external, a.Address)
		}
	}
	if len(internal) > 0 {
		return internal
	}
	return external
}

// ResourceValue returns a resourceFieldRef of container c (or of the
// container fs.ContainerName names) as kubelet does: the quantity divided
// by the divisor (1 when unset), rounded up. Limits the container does
// not set are the node's allocatable.
func ResourceValue(fs *corev1.ResourceFieldSelector, pod *corev1.Pod, c *corev1.Container, allocatable corev1.ResourceList) (string, error) {
	if fs.ContainerName != "" {
		c = findContainer(pod, fs.ContainerName)
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: container %q not found in pod %s/%s", fs.ContainerName, pod.Namespace, pod.Name)
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %q: containerName is required", fs.Resource)
	}
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(fs.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource %q", fs.Resource)
	}
	res := corev1.ResourceName(name)
	switch {
	case res == corev1.ResourceCPU:
	case res == corev1.ResourceMemory, res == corev1.ResourceEphemeralStorage,
		strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("unsupported container resource %q", fs.Resource)
	}
	var q resource.Quantity
	if kind == "limits" {
		var set bool
		if q, set = c.Resources.Limits[res]; !set {
			q = allocatable[res]
		}
	} else {
		q = c.Resources.Requests[res]
	}
	if res == corev1.ResourceCPU {
		if divisor.MilliValue() <= 0 {
			return "", fmt.Errorf("resourceFieldRef %q: divisor %s is below 1m", fs.Resource, divisor.String())
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	if divisor.Value() <= 0 {
		return "", fmt.Errorf("resourceFieldRef %q: divisor %s is below 1", fs.Resource, divisor.String())
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
