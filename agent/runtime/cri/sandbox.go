package cri

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// RunPodSandbox creates the pod's sandbox. A ready sandbox makes it a
// no-op; when the pod only has NotReady ones (the host rebooted, or
// the pause process died) a new one is made with the next attempt
// number, as kubelet does. The old sandboxes' containers stay listed
// (exited), so the agent restarts them under the restart policy.
func (r *Runtime) RunPodSandbox(ctx context.Context, pod *corev1.Pod) error {
	sandboxes, err := r.sandboxes(ctx, pod.UID)
	if err != nil {
		return err
	}
	var attempt uint32
	for _, s := range sandboxes {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			return nil
		}
		attempt = max(attempt, s.GetMetadata().GetAttempt()+1)
	}
	if len(sandboxes) > 0 {
		// Stop the old ones for good (frees their network namespace).
		for _, s := range sandboxes {
			cctx, cancel := r.call(ctx)
			_, err := r.rt.StopPodSandbox(cctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id})
			cancel()
			if err != nil && !isNotFound(err) {
				return fmt.Errorf("stopping the old sandbox %s: %w", s.Id, err)
			}
		}
		klog.FromContext(ctx).Info("recreating the pod's sandbox", "pod", klog.KObj(pod), "attempt", attempt)
	}
	cfg, err := r.sandboxConfig(pod, attempt)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.LogDirectory, 0o755); err != nil {
		return fmt.Errorf("creating the pod's log directory: %w", err)
	}
	cctx, cancel := r.call(ctx)
	defer cancel()
	if _, err := r.rt.RunPodSandbox(cctx, &runtimeapi.RunPodSandboxRequest{Config: cfg}); err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	return nil
}

// sandboxes lists the pod's sandboxes, newest first.
func (r *Runtime) sandboxes(ctx context.Context, uid types.UID) ([]*runtimeapi.PodSandbox, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.rt.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{LabelPodUID: string(uid)}}})
	if err != nil {
		return nil, fmt.Errorf("ListPodSandbox: %w", err)
	}
	items := resp.Items
	sortSandboxes(items)
	return items, nil
}

// sortSandboxes orders newest first: by attempt, then creation time.
func sortSandboxes(items []*runtimeapi.PodSandbox) {
	sort.SliceStable(items, func(i, j int) bool {
		ai, aj := items[i].GetMetadata().GetAttempt(), items[j].GetMetadata().GetAttempt()
		if ai != aj {
			return ai > aj
		}
		return items[i].CreatedAt > items[j].CreatedAt
	})
}

// readySandbox is the pod's ready sandbox, or an error saying there is none.
func (r *Runtime) readySandbox(ctx context.Context, uid types.UID) (*runtimeapi.PodSandbox, error) {
	sandboxes, err := r.sandboxes(ctx, uid)
	if err != nil {
		return nil, err
	}
	for _, s := range sandboxes {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			return s, nil
		}
	}
	return nil, fmt.Errorf("pod %s has no ready sandbox", uid)
}

// podLabels are the labels of the pod's sandbox and, with the container
// name added, of its containers.
func podLabels(pod *corev1.Pod) map[string]string {
	l := make(map[string]string, len(pod.Labels)+3)
	for k, v := range pod.Labels {
		l[k] = v
	}
	l[LabelPodName], l[LabelPodNamespace], l[LabelPodUID] = pod.Name, pod.Namespace, string(pod.UID)
	return l
}

// sandboxConfig is the CRI config of the pod's sandbox, as kubelet's
// generatePodSandboxConfig.
func (r *Runtime) sandboxConfig(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	spec := &pod.Spec
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		LogDirectory: r.podLogDir(pod.Namespace, pod.Name, pod.UID),
		Labels:       podLabels(pod),
		Annotations:  map[string]string{},
	}
	for k, v := range pod.Annotations {
		cfg.Annotations[k] = v
	}
	if !spec.HostNetwork { // the host's name stays with host networking
		cfg.Hostname = podHostname(pod)
	}
	dns, err := r.dnsConfig(pod)
	if err != nil {
		return nil, err
	}
	cfg.DnsConfig = dns
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{Protocol: protocol(p.Protocol),
				ContainerPort: p.ContainerPort, HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	ns := namespaceOptions(pod)
	sc := &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: ns, Privileged: anyPrivileged(pod)}
	if psc := spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = supplementalGroups(psc)
	}
	linux := &runtimeapi.LinuxPodSandboxConfig{CgroupParent: r.podCgroup(pod.UID), SecurityContext: sc}
	if psc := spec.SecurityContext; psc != nil && len(psc.Sysctls) > 0 {
		linux.Sysctls = map[string]string{}
		for _, s := range psc.Sysctls {
			linux.Sysctls[s.Name] = s.Value
		}
	}
	cfg.Linux = linux
	return cfg, nil
}

// podHostname is the pod's host name (spec.hostname or its name), cut to
// 63 characters as kubelet does.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func protocol(p corev1.Protocol) runtimeapi.Protocol {
	switch p {
	case corev1.ProtocolUDP:
		return runtimeapi.Protocol_UDP
	case corev1.ProtocolSCTP:
		return runtimeapi.Protocol_SCTP
	}
	return runtimeapi.Protocol_TCP
}

func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER,
		Ipc: runtimeapi.NamespaceMode_POD}
	spec := &pod.Spec
	if spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace {
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	if spec.HostPID {
		ns.Pid = runtimeapi.NamespaceMode_NODE
	}
	if spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	return ns
}

func anyPrivileged(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				return true
			}
		}
	}
	return false
}

func supplementalGroups(psc *corev1.PodSecurityContext) []int64 {
	var g []int64
	if psc.FSGroup != nil {
		g = append(g, *psc.FSGroup)
	}
	return append(g, psc.SupplementalGroups...)
}

// dnsConfig follows the pod's dnsPolicy as kubelet: ClusterFirst pods use
// the cluster DNS (the host's when there is none, or with host
// networking unless ClusterFirstWithHostNet); Default uses the host's
// (nil: containerd copies /etc/resolv.conf); None only spec.dnsConfig.
func (r *Runtime) dnsConfig(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	spec := &pod.Spec
	var cfg *runtimeapi.DNSConfig
	clusterFirst := (spec.DNSPolicy == "" || spec.DNSPolicy == corev1.DNSClusterFirst) && !spec.HostNetwork ||
		spec.DNSPolicy == corev1.DNSClusterFirstWithHostNet
	switch {
	case spec.DNSPolicy == corev1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case clusterFirst && len(r.opts.ClusterDNS) > 0:
		d := r.opts.ClusterDomain
		cfg = &runtimeapi.DNSConfig{Servers: append([]string(nil), r.opts.ClusterDNS...),
			Searches: []string{pod.Namespace + ".svc." + d, "svc." + d, d}, Options: []string{"ndots:5"}}
	}
	if pc := spec.DNSConfig; pc != nil {
		if cfg == nil {
			host, err := hostResolvConf()
			if err != nil {
				return nil, err
			}
			cfg = host
		}
		cfg.Servers = appendNew(cfg.Servers, pc.Nameservers...)
		cfg.Searches = appendNew(cfg.Searches, pc.Searches...)
		for _, o := range pc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			cfg.Options = mergeOption(cfg.Options, opt)
		}
	}
	return cfg, nil
}

// hostResolvConf reads the host's resolv.conf, for a Default pod that
// also has spec.dnsConfig.
func hostResolvConf() (*runtimeapi.DNSConfig, error) {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		if os.IsNotExist(err) {
			return &runtimeapi.DNSConfig{}, nil
		}
		return nil, err
	}
	cfg := &runtimeapi.DNSConfig{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search":
			cfg.Searches = f[1:]
		case "options":
			cfg.Options = f[1:]
		}
	}
	return cfg, nil
}

func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		found := false
		for _, l := range list {
			found = found || l == a
		}
		if !found {
			list = append(list, a)
		}
	}
	return list
}

// mergeOption replaces an option of the same name (ndots:2 over ndots:5).
func mergeOption(opts []string, opt string) []string {
	name, _, _ := strings.Cut(opt, ":")
	for i, o := range opts {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}

// gracePeriod is the pod's termination grace in seconds, as annotated.
func gracePeriod(pod *corev1.Pod) string {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return strconv.FormatInt(*pod.Spec.TerminationGracePeriodSeconds, 10)
	}
	return "30"
}
