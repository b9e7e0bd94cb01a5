package agent

import (
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/clock"

	"corral/agent/runtime/simulated"
)

// SimulatedNodes describes a fleet of simulated nodes in one process.
type SimulatedNodes struct {
	// Count nodes are named Name when Count is 1, else Name-0 ... Name-(Count-1).
	Count int
	Name  string
	// Zones are assigned round-robin (topology.kubernetes.io/zone).
	Zones  []string
	Labels map[string]string
	// Per-node capacity.
	CPU, Memory, EphemeralStorage resource.Quantity
	Pods, GPUs                    int64
	// StartDelay and JobRunFor configure the simulated runtime.
	StartDelay, JobRunFor time.Duration
	Clock                 clock.PassiveClock
}

// NodeConfigs builds one NodeConfig with its own simulated runtime per
// node. Node i gets InternalIP 100.64.0.0/10 + i+1 and, until node IPAM
// assigns spec.podCIDR, pod IPs from 10.128.0.0/9's i-th /24; both are
// synthetic and never routed.
func (s SimulatedNodes) NodeConfigs() ([]NodeConfig, error) {
	if s.Count < 1 || s.Count > 1<<15 {
		return nil, fmt.Errorf("simulated nodes: count %d not in 1..32768", s.Count)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: s.CPU, corev1.ResourceMemory: s.Memory, corev1.ResourceEphemeralStorage: s.EphemeralStorage,
	}
	if s.GPUs > 0 {
		capacity["nvidia.com/gpu"] = *resource.NewQuantity(s.GPUs, resource.DecimalSI)
	}
	nodeBase := netip.MustParseAddr("100.64.0.0").As4()
	out := make([]NodeConfig, 0, s.Count)
	for i := 0; i < s.Count; i++ {
		name := s.Name
		if s.Count > 1 {
			name = fmt.Sprintf("%s-%d", s.Name, i)
		}
		rt, err := simulated.New(simulated.Options{Clock: s.Clock, StartDelay: s.StartDelay, JobRunFor: s.JobRunFor,
			Capacity: capacity, FallbackCIDR: fmt.Sprintf("10.%d.%d.0/24", 128+i/256, i%256)})
		if err != nil {
			return nil, err
		}
		v := (uint32(nodeBase[0])<<24 | uint32(nodeBase[1])<<16) + uint32(i+1)
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		nc := NodeConfig{Name: name, Runtime: rt, Pods: s.Pods, Labels: s.Labels, SimulatedPressure: true,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}}}
		if len(s.Zones) > 0 {
			nc.Zone = s.Zones[i%len(s.Zones)]
		}
		out = append(out, nc)
	}
	return out, nil
}
