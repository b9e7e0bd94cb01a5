package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// LeastAllocated prefers nodes with the most cpu and memory left after the
// pod is placed, counting unset requests at the scoring defaults.
type LeastAllocated struct{}

func (LeastAllocated) Name() string { return "LeastAllocated" }

func (LeastAllocated) Score(pod *PodInfo, ni *NodeInfo) int64 {
	free := func(alloc, req int64) int64 {
		if alloc <= 0 || req > alloc {
			return 0
		}
		return (alloc - req) * MaxNodeScore / alloc
	}
	cpu := free(ni.Allocatable.MilliCPU, ni.NonZeroRequested.MilliCPU+pod.NonZeroCPU)
	mem := free(ni.Allocatable.Memory, ni.NonZeroRequested.Memory+pod.NonZeroMem)
	return (cpu + mem) / 2
}

// BalancedAllocation prefers nodes where cpu and memory end up used in
// similar proportions, so that neither is stranded.
type BalancedAllocation struct{}

func (BalancedAllocation) Name() string { return "BalancedAllocation" }

func (b BalancedAllocation) PreScore(pod *PodInfo, _ *Snapshot, _ []*NodeInfo) Scorer {
	if pod.Requests.MilliCPU == 0 && pod.Requests.Memory == 0 {
		return nil // a best-effort pod changes no balance
	}
	return b
}

func (BalancedAllocation) Score(pod *PodInfo, ni *NodeInfo) int64 {
	frac := func(alloc, req int64) float64 {
		if alloc <= 0 {
			return 1
		}
		return math.Min(float64(req)/float64(alloc), 1)
	}
	cpu := frac(ni.Allocatable.MilliCPU, ni.Requested.MilliCPU+pod.Requests.MilliCPU)
	mem := frac(ni.Allocatable.Memory, ni.Requested.Memory+pod.Requests.Memory)
	std := math.Abs(cpu-mem) / 2 // the standard deviation of two values
	return int64((1 - std) * float64(MaxNodeScore))
}

// OwnerSpread spreads the pods of one controller (ReplicaSet, StatefulSet,
// Job...) across nodes and, weighted two thirds, across zones, like
// upstream's former SelectorSpread. It uses the per-node owner counts kept
// by NodeInfo, so its cost does not grow with the number of pods.
type OwnerSpread struct{}

func (OwnerSpread) Name() string { return "OwnerSpread" }

func (OwnerSpread) Score(*PodInfo, *NodeInfo) int64 { return 0 }

func (OwnerSpread) PreScore(pod *PodInfo, _ *Snapshot, feasible []*NodeInfo) Scorer {
	if pod.OwnerUID == "" {
		return nil
	}
	return &ownerSpread{feasible: feasible}
}

type ownerSpread struct{ feasible []*NodeInfo }

func (*ownerSpread) Name() string { return "OwnerSpread" }

func (*ownerSpread) Score(pod *PodInfo, ni *NodeInfo) int64 {
	return int64(ni.ownerCounts[pod.OwnerUID])
}

// zoneWeighting: zone spreading counts twice as much as node spreading.
const zoneWeighting = 2.0 / 3.0

func (s *ownerSpread) Normalize(scores []int64) {
	var maxNode int64
	zones := map[string]int64{}
	for i, ni := range s.feasible {
		maxNode = max(maxNode, scores[i])
		if z, ok := ni.Node.Labels[corev1.LabelTopologyZone]; ok {
			zones[z] += scores[i]
		}
	}
	var maxZone int64
	for _, n := range zones {
		maxZone = max(maxZone, n)
	}
	for i, ni := range s.feasible {
		f := float64(MaxNodeScore)
		if maxNode > 0 {
			f = float64(MaxNodeScore) * float64(maxNode-scores[i]) / float64(maxNode)
		}
		if z, ok := ni.Node.Labels[corev1.LabelTopologyZone]; ok {
			zs := float64(MaxNodeScore)
			if maxZone > 0 {
				zs = float64(MaxNodeScore) * float64(maxZone-zones[z]) / float64(maxZone)
			}
			f = f*(1-zoneWeighting) + zs*zoneWeighting
		}
		scores[i] = int64(f)
	}
}

// NodeAffinityScore sums the weights of the preferred node affinity terms
// a node matches.
type NodeAffinityScore struct{}

func (NodeAffinityScore) Name() string { return "NodeAffinity" }

func (s NodeAffinityScore) PreScore(pod *PodInfo, _ *Snapshot, _ []*NodeInfo) Scorer {
	if a := pod.Pod.Spec.Affinity; a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return nil
	}
	return s
}

func (NodeAffinityScore) Score(pod *PodInfo, ni *NodeInfo) int64 {
	var sum int64
	for _, t := range pod.Pod.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.Weight != 0 && matchesNodeSelectorTerm(&t.Preference, ni.Node) {
			sum += int64(t.Weight)
		}
	}
	return sum
}

func (NodeAffinityScore) Normalize(scores []int64) { normalize(scores, false) }

// TaintTolerationScore prefers nodes with fewer PreferNoSchedule taints the
// pod does not tolerate.
type TaintTolerationScore struct{}

func (TaintTolerationScore) Name() string { return "TaintToleration" }

func (TaintTolerationScore) Score(pod *PodInfo, ni *NodeInfo) int64 {
	var n int64
	for i := range ni.Node.Spec.Taints {
		t := &ni.Node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(pod.Pod.Spec.Tolerations, t) {
			n++
		}
	}
	return n
}

func (TaintTolerationScore) Normalize(scores []int64) { normalize(scores, true) }

// InterPodAffinityScore adds the weights of preferred affinity terms (and
// subtracts those of anti-affinity terms) per topology domain, both the
// incoming pod's and those of existing pods that select it; existing pods'
// required affinity counts with weight 1, as upstream's default
// hardPodAffinityWeight.
type InterPodAffinityScore struct{}

func (InterPodAffinityScore) Name() string { return "InterPodAffinity" }

func (InterPodAffinityScore) Score(*PodInfo, *NodeInfo) int64 { return 0 }

const hardPodAffinityWeight = 1

func (InterPodAffinityScore) PreScore(pod *PodInfo, snap *Snapshot, _ []*NodeInfo) Scorer {
	own := len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0
	if !own && len(snap.withAffinity) == 0 {
		return nil
	}
	s := &affinityScore{sums: map[topologyPair]int64{}}
	add := func(ni *NodeInfo, key string, w int64) {
		if v, ok := ni.Node.Labels[key]; ok {
			s.sums[topologyPair{key, v}] += w
		}
	}
	podNS := snap.NamespaceLabels[pod.Pod.Namespace]
	visit := func(ni *NodeInfo, ep *PodInfo) {
		epNS := snap.NamespaceLabels[ep.Pod.Namespace]
		for i := range pod.PreferredAffinity {
			if t := &pod.PreferredAffinity[i]; t.Matches(ep.Pod, epNS) {
				add(ni, t.TopologyKey, int64(t.Weight))
			}
		}
		for i := range pod.PreferredAntiAffinity {
			if t := &pod.PreferredAntiAffinity[i]; t.Matches(ep.Pod, epNS) {
				add(ni, t.TopologyKey, -int64(t.Weight))
			}
		}
		for i := range ep.RequiredAffinity {
			if t := &ep.RequiredAffinity[i]; t.Matches(pod.Pod, podNS) {
				add(ni, t.TopologyKey, hardPodAffinityWeight)
			}
		}
		for i := range ep.PreferredAffinity {
			if t := &ep.PreferredAffinity[i]; t.Matches(pod.Pod, podNS) {
				add(ni, t.TopologyKey, int64(t.Weight))
			}
		}
		for i := range ep.PreferredAntiAffinity {
			if t := &ep.PreferredAntiAffinity[i]; t.Matches(pod.Pod, podNS) {
				add(ni, t.TopologyKey, -int64(t.Weight))
			}
		}
	}
	if own {
		for _, ni := range snap.Nodes {
			for _, ep := range ni.Pods {
				visit(ni, ep)
			}
		}
	} else {
		// Only existing pods with terms of their own can contribute.
		for _, ni := range snap.withAffinity {
			for _, ep := range ni.PodsWithAffinity {
				visit(ni, ep)
			}
		}
	}
	if len(s.sums) == 0 {
		return nil
	}
	return s
}

type affinityScore struct{ sums map[topologyPair]int64 }

func (*affinityScore) Name() string { return "InterPodAffinity" }

func (s *affinityScore) Score(_ *PodInfo, ni *NodeInfo) int64 {
	var sum int64
	for tp, w := range s.sums {
		if v, ok := ni.Node.Labels[tp.key]; ok && v == tp.value {
			sum += w
		}
	}
	return sum
}

// Normalize maps [min, max] onto [0, 100]; sums may be negative.
func (*affinityScore) Normalize(scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0], scores[0]
	for _, v := range scores {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range scores {
		if hi > lo {
			scores[i] = MaxNodeScore * (v - lo) / (hi - lo)
		} else {
			scores[i] = 0
		}
	}
}

// PodTopologySpreadScore prefers the less loaded domains of ScheduleAnyway
// constraints, weighting each constraint by the log of its domain count as
// upstream; nodes lacking a key get the lowest score.
type PodTopologySpreadScore struct{}

func (PodTopologySpreadScore) Name() string { return "PodTopologySpread" }

func (PodTopologySpreadScore) Score(*PodInfo, *NodeInfo) int64 { return 0 }

func (PodTopologySpreadScore) PreScore(pod *PodInfo, snap *Snapshot, _ []*NodeInfo) Scorer {
	cs := spreadConstraints(pod.Pod, corev1.ScheduleAnyway)
	if len(cs) == 0 {
		return nil
	}
	s := &spreadScore{cs: cs, counts: spreadCounts(pod, cs, snap.Nodes)}
	s.weights = make([]float64, len(cs))
	for i := range cs {
		s.weights[i] = math.Log(float64(len(s.counts[i]) + 2))
	}
	return s
}

type spreadScore struct {
	cs      []spreadConstraint
	counts  []map[string]int
	weights []float64
}

func (*spreadScore) Name() string { return "PodTopologySpread" }

func (s *spreadScore) Score(pod *PodInfo, ni *NodeInfo) int64 {
	if !hasAllKeys(ni.Node, s.cs) {
		return -1 // ignored; Normalize turns it into 0
	}
	var f float64
	for i := range s.cs {
		n := s.counts[i][ni.Node.Labels[s.cs[i].TopologyKey]]
		f += float64(n)*s.weights[i] + float64(s.cs[i].MaxSkew-1)
	}
	return int64(math.Round(f))
}

func (s *spreadScore) Normalize(scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, v := range scores {
		if v >= 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	for i, v := range scores {
		switch {
		case v < 0:
			scores[i] = 0
		case hi == 0:
			scores[i] = MaxNodeScore
		default:
			scores[i] = MaxNodeScore * (hi + lo - v) / hi
		}
	}
}
