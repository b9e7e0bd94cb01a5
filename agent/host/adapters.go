package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"corral/agent/env"
	"corral/agent/network"
	"corral/agent/prober"
	"corral/agent/runtime"
	"corral/agent/runtime/cri"
	"corral/agent/volume"
)

// clusterDomain is the DNS domain of services (setHostnameAsFQDN).
const clusterDomain = "cluster.local"

// cniRuntime is the CRI runtime plus the node's CNI config: the config is
// written once node IPAM gives the node its pod CIDR, and until then the
// node reports its network as not ready, as kubelet does.
type cniRuntime struct {
	*cri.Runtime
	confDir string
	opts    network.CNIOptions

	mu   sync.Mutex
	cidr string
}

func (r *cniRuntime) UpdatePodCIDR(cidr string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cidr == "" || cidr == r.cidr {
		return nil
	}
	if _, err := network.WriteCNIConfig(r.confDir, cidr, r.opts); err != nil {
		return err
	}
	r.cidr = cidr
	return r.Runtime.UpdatePodCIDR(cidr)
}

func (r *cniRuntime) NodeInfo(ctx context.Context) (runtime.NodeInfo, error) {
	info, err := r.Runtime.NodeInfo(ctx)
	if err != nil {
		return info, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cidr == "" {
		return info, errors.New("network not ready: the node has no pod CIDR yet")
	}
	return info, nil
}

// preparer resolves volumes, environment, mounts (with the pod's managed
// /etc/hosts) and pull credentials.
type preparer struct {
	volumes  *volume.Manager
	sources  env.Sources
	nodeName string
}

func (p *preparer) SetUp(ctx context.Context, pod *corev1.Pod) error {
	return p.volumes.SetUp(ctx, pod)
}

func (p *preparer) ContainerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (runtime.ContainerConfig, error) {
	vars, err := env.Resolve(ctx, p.sources, pod, c)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	mounts, err := p.volumes.Mounts(pod, c, vars)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	// The agent hands over the sandbox's IPs, so /etc/hosts can name them.
	hosts, err := p.volumes.HostsMount(pod, mounts)
	if err != nil {
		return runtime.ContainerConfig{}, fmt.Errorf("/etc/hosts: %w", err)
	}
	if hosts != nil {
		mounts = append(mounts, *hosts)
	}
	auth, err := env.PullAuth(ctx, p.sources, pod)
	if err != nil {
		return runtime.ContainerConfig{}, fmt.Errorf("image pull secrets: %w", err)
	}
	hostname, err := env.Hostname(pod, p.nodeName, clusterDomain)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	return runtime.ContainerConfig{Env: vars, Mounts: mounts, PullAuth: auth, Hostname: hostname}, nil
}

func (p *preparer) TearDown(uid types.UID) error { return p.volumes.TearDown(uid) }

// proberAdapter presents the prober to the agent core.
type proberAdapter struct{ m *prober.Manager }

func (a proberAdapter) Update(pod *corev1.Pod, rs *runtime.PodStatus) { a.m.Update(pod, rs) }
func (a proberAdapter) Remove(uid types.UID)                          { a.m.Remove(uid) }
func (a proberAdapter) Ready(uid types.UID, name, id string) bool     { return a.m.Ready(uid, name, id) }
func (a proberAdapter) Started(uid types.UID, name, id string) bool {
	return a.m.Started(uid, name, id)
}
func (a proberAdapter) Kill(uid types.UID, name, id string) (string, time.Duration, bool) {
	f, failed := a.m.LivenessFailure(uid, name, id)
	return f.Message, f.Grace, failed
}

func (a proberAdapter) RunHook(pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, timeout time.Duration) error {
	return a.m.RunHook(pod, c, id, h, timeout)
}
