package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"corral/agent/runtime"
	"corral/version"
)

// node is one node's agent-side state.
type node struct {
	cfg    NodeConfig
	rt     runtime.Runtime
	client kubernetes.Interface // its writes: Options.Client or one of NodeClients
	prober runtime.Prober       // nil: ready while running

	mu           sync.Mutex // guards the fields below (status and lease workers share them)
	registered   bool
	infoPosted   string // capacity and node info last posted (heartbeat)
	registeredAt time.Time
	uid          types.UID
	podCIDR      string
	hostIPs      []corev1.HostIP
	ready        corev1.ConditionStatus
	readySince   metav1.Time
	pressure     [len(pressureKinds)]pressureState
	lease        *coordinationv1.Lease
	renewedAt    time.Time // when the last renewal succeeded
}

// Labels the agent sets on its nodes.
const (
	LabelHostname = "kubernetes.io/hostname"
	LabelOS       = "kubernetes.io/os"
	LabelArch     = "kubernetes.io/arch"
	LabelZone     = "topology.kubernetes.io/zone"
)

// syncNodeStatus registers the node on its first run, then posts a status
// heartbeat, and schedules the next one.
func (a *Agent) syncNodeStatus(ctx context.Context, name string) error {
	n := a.nodes[name]
	info, infoErr := n.rt.NodeInfo(ctx)
	n.mu.Lock()
	registered := n.registered
	n.mu.Unlock()
	var err error
	if !registered {
		err = a.register(ctx, n, info, infoErr)
	} else {
		err = a.heartbeat(ctx, n, info, infoErr)
	}
	if err != nil {
		return err
	}
	next := jitter(a.opts.StatusInterval, 0.1)
	n.mu.Lock()
	switch {
	case n.podCIDR == "" && next > time.Second && a.clock.Since(n.registeredAt) < time.Minute:
		// Node IPAM assigns the CIDR just after registration; real pods
		// need it for their network, so look again soon.
		next = jitter(time.Second, 0.2)
	case infoErr != nil && next > 2*time.Second:
		// Not ready (runtime or network down): report recovery quickly.
		next = jitter(2*time.Second, 0.2)
	}
	n.mu.Unlock()
	a.statuses.AddAfter(name, next)
	return nil
}

// desiredNode is the node as this agent describes it.
func (a *Agent) desiredNode(n *node, info runtime.NodeInfo) *corev1.Node {
	cfg := n.cfg
	labels := map[string]string{LabelHostname: cfg.Name, LabelOS: orDefault(info.OS, goruntime.GOOS), LabelArch: orDefault(info.Arch, goruntime.GOARCH)}
	if cfg.Zone != "" {
		labels[LabelZone] = cfg.Zone
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	capacity := info.Capacity.DeepCopy()
	if capacity == nil {
		capacity = corev1.ResourceList{}
	}
	capacity[corev1.ResourcePods] = *resource.NewQuantity(cfg.Pods, resource.DecimalSI)
	addresses := append([]corev1.NodeAddress(nil), cfg.Addresses...)
	addresses = append(addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: cfg.Name})
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: cfg.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: cfg.Taints},
		Status: corev1.NodeStatus{
			Capacity:        capacity,
			Allocatable:     capacity.DeepCopy(), // nothing reserved yet (issue C: system-reserved)
			Addresses:       addresses,
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: cfg.AgentPort}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: info.MachineID, SystemUUID: info.SystemUUID, BootID: info.BootID,
				KernelVersion: info.KernelVersion, OSImage: info.OSImage, ContainerRuntimeVersion: info.RuntimeVersion,
				KubeletVersion: "v1.37.2-corral." + version.Version, OperatingSystem: orDefault(info.OS, goruntime.GOOS),
				Architecture: orDefault(info.Arch, goruntime.GOARCH),
			},
		},
	}
}

// register creates the Node or, when it exists (agent restart), merges
// labels and replaces the status; taints of an existing node are left to
// whoever set them.
func (a *Agent) register(ctx context.Context, n *node, info runtime.NodeInfo, infoErr error) error {
	want := a.desiredNode(n, info)
	nodes := n.client.CoreV1().Nodes()
	cur, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if cur, err = nodes.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			return err
		}
		changed := false
		for k, v := range want.Labels {
			if cur.Labels[k] != v {
				if cur.Labels == nil {
					cur.Labels = map[string]string{}
				}
				cur.Labels[k], changed = v, true
			}
		}
		if changed {
			if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	} else if err != nil {
		return fmt.Errorf("registering node %s: %w", want.Name, err)
	}
	now := metav1.NewTime(a.now())
	n.mu.Lock()
	n.ready, n.readySince = readyStatus(infoErr), now
	n.initPressure(now)
	conds := n.conditions(now, infoErr)
	n.mu.Unlock()
	cur.Status.Capacity, cur.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
	cur.Status.Addresses, cur.Status.DaemonEndpoints, cur.Status.NodeInfo = want.Status.Addresses, want.Status.DaemonEndpoints, want.Status.NodeInfo
	cur.Status.Conditions = conds
	cur.Status.Phase = ""
	cur, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	a.observeNode(n, cur)
	n.mu.Lock()
	n.registered, n.registeredAt = true, a.clock.Now()
	n.mu.Unlock()
	klog.FromContext(ctx).V(2).Info("node registered", "node", cur.Name)
	// Stagger the first renewals over one interval: thousands of nodes
	// registered together must not renew together.
	a.leases.AddAfter(n.cfg.Name, time.Duration(rand.Int64N(int64(a.opts.RenewInterval)+1)))
	return nil
}

// heartbeat patches the conditions (a strategic merge on type, so it
// never conflicts with taint or label writers) and reads podCIDR back.
func (a *Agent) heartbeat(ctx context.Context, n *node, info runtime.NodeInfo, infoErr error) error {
	now := metav1.NewTime(a.now())
	n.mu.Lock()
	if st := readyStatus(infoErr); st != n.ready {
		n.ready, n.readySince = st, now
	}
	conds := n.conditions(now, infoErr)
	status := map[string]any{"conditions": conds}
	// The machine's description, once the runtime could give it (a
	// runtime that was down at registration reported nothing).
	fingerprint := ""
	if info.Capacity != nil {
		want := a.desiredNode(n, info).Status
		fingerprint = fmt.Sprint(want.Capacity, want.NodeInfo)
		if fingerprint != n.infoPosted {
			status["capacity"], status["allocatable"], status["nodeInfo"] = want.Capacity, want.Allocatable, want.NodeInfo
		}
	}
	n.mu.Unlock()
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	cur, err := n.client.CoreV1().Nodes().Patch(ctx, n.cfg.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) { // deleted under us: register again, as kubelet does
		n.mu.Lock()
		n.registered, n.lease = false, nil
		n.mu.Unlock()
		a.statuses.Add(n.cfg.Name)
		return nil
	}
	if err != nil {
		return err
	}
	if fingerprint != "" {
		n.mu.Lock()
		n.infoPosted = fingerprint
		n.mu.Unlock()
	}
	a.observeNode(n, cur)
	return nil
}

// observeNode takes what others decide about the node: its UID (Lease
// owner), its pod CIDR (node IPAM), its addresses (pods' hostIPs) and,
// for a simulated node, its pressure (AnnotationSimPressure, taken as
// it is, without a transition period).
func (a *Agent) observeNode(n *node, cur *corev1.Node) {
	if n.cfg.SimulatedPressure {
		a.applyPressure(n, simPressure(cur.Annotations[AnnotationSimPressure]), 0)
	}
	var hostIPs []corev1.HostIP
	for _, ad := range cur.Status.Addresses {
		if ad.Type == corev1.NodeInternalIP {
			hostIPs = append(hostIPs, corev1.HostIP{IP: ad.Address})
		}
	}
	n.mu.Lock()
	n.uid, n.hostIPs = cur.UID, hostIPs
	cidrChanged := cur.Spec.PodCIDR != n.podCIDR
	n.podCIDR = cur.Spec.PodCIDR
	n.mu.Unlock()
	if cidrChanged && cur.Spec.PodCIDR != "" {
		if err := n.rt.UpdatePodCIDR(cur.Spec.PodCIDR); err != nil {
			klog.Background().Error(err, "runtime rejected the pod CIDR", "node", n.cfg.Name, "cidr", cur.Spec.PodCIDR)
		}
	}
}

// conditions are the node's conditions now; n.mu is held.
func (n *node) conditions(now metav1.Time, infoErr error) []corev1.NodeCondition {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: n.ready, LastHeartbeatTime: now, LastTransitionTime: n.readySince,
		Reason: "KubeletReady", Message: "corral agent is posting ready status"}
	if infoErr != nil {
		ready.Reason, ready.Message = "KubeletNotReady", "container runtime is down: "+infoErr.Error()
	}
	return append([]corev1.NodeCondition{ready}, n.pressureConditions(now)...)
}

func readyStatus(infoErr error) corev1.ConditionStatus {
	if infoErr != nil {
		return corev1.ConditionFalse
	}
	return corev1.ConditionTrue
}

func (a *Agent) now() time.Time { return a.clock.Now().Round(0).Truncate(time.Second) }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// jitter spreads d by ±f so that periodic work of many nodes does not align.
func jitter(d time.Duration, f float64) time.Duration {
	return d + time.Duration((rand.Float64()*2-1)*f*float64(d))
}
