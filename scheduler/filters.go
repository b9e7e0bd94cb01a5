package scheduler

import (
	"sort"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// Failure reasons, worded as upstream's so that users and tools that grep
// kube-scheduler messages find the same text.
const (
	ReasonUnschedulable        = "node(s) were unschedulable"
	ReasonNodeName             = "node(s) didn't match the requested node name"
	ReasonNodeAffinity         = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts            = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods          = "Too many pods"
	ReasonAffinity             = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpread               = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// ReasonUntoleratedTaint is the reason for a taint the pod does not tolerate.
// The strings are kept: a pod that fits nowhere meets the same few taints on
// thousands of nodes in every attempt, and building each one anew was a
// good part of such an attempt's cost.
func ReasonUntoleratedTaint(t *corev1.Taint) string {
	k := taintReasonKey{t.Key, t.Value}
	taintReasons.RLock()
	r, ok := taintReasons.m[k]
	taintReasons.RUnlock()
	if ok {
		return r
	}
	r = "node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"
	taintReasons.Lock()
	if len(taintReasons.m) >= maxTaintReasons { // taints with ever-new values: start over
		clear(taintReasons.m)
	}
	taintReasons.m[k] = r
	taintReasons.Unlock()
	return r
}

type taintReasonKey struct{ key, value string }

const maxTaintReasons = 1024

var taintReasons = struct {
	sync.RWMutex
	m map[taintReasonKey]string
}{m: map[taintReasonKey]string{}}

// ReasonInsufficient is the reason for a resource the node lacks.
func ReasonInsufficient(name corev1.ResourceName) string { return "Insufficient " + string(name) }

func tolerates(tols []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}

// firstUntolerated returns the first taint with one of the effects that the
// tolerations do not cover.
func firstUntolerated(taints []corev1.Taint, tols []corev1.Toleration, effects ...corev1.TaintEffect) *corev1.Taint {
	for i := range taints {
		t := &taints[i]
		for _, e := range effects {
			if t.Effect == e && !tolerates(tols, t) {
				return t
			}
		}
	}
	return nil
}

// NodeUnschedulable rejects cordoned nodes unless the pod tolerates the
// unschedulable taint (DaemonSet pods do).
type NodeUnschedulable struct{}

func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func (NodeUnschedulable) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	if ni.Node.Spec.Unschedulable && !tolerates(pod.Pod.Spec.Tolerations, &unschedulableTaint) {
		return unresolvable(ReasonUnschedulable)
	}
	return nil
}

// NodeName honours a preset spec.nodeName. The loop never queues such pods
// (they are already placed); the filter matters for preemption dry runs and
// for callers of Schedule. Pinning by affinity (matchFields metadata.name,
// as DaemonSets do) is NodeAffinity's job.
type NodeName struct{}

func (NodeName) Name() string { return "NodeName" }

func (NodeName) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	if n := pod.Pod.Spec.NodeName; n != "" && n != ni.Name() {
		return unresolvable(ReasonNodeName)
	}
	return nil
}

// TaintToleration rejects nodes with a NoSchedule or NoExecute taint the
// pod does not tolerate; PreferNoSchedule only lowers the score.
type TaintToleration struct{}

func (TaintToleration) Name() string { return "TaintToleration" }

func (TaintToleration) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	if t := firstUntolerated(ni.Node.Spec.Taints, pod.Pod.Spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute); t != nil {
		return unresolvable(ReasonUntoleratedTaint(t))
	}
	return nil
}

// NodeAffinity applies spec.nodeSelector and required node affinity.
type NodeAffinity struct{}

func (NodeAffinity) Name() string { return "NodeAffinity" }

func (NodeAffinity) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	if !matchesNodeSelectorAndAffinity(pod.Pod, ni.Node) {
		return unresolvable(ReasonNodeAffinity)
	}
	return nil
}

func matchesNodeSelectorAndAffinity(pod *corev1.Pod, node *corev1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if lv, ok := node.Labels[k]; !ok || lv != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	return matchesNodeSelector(a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution, node)
}

// matchesNodeSelector ORs the terms; an empty list matches nothing, as
// upstream.
func matchesNodeSelector(sel *corev1.NodeSelector, node *corev1.Node) bool {
	for i := range sel.NodeSelectorTerms {
		if matchesNodeSelectorTerm(&sel.NodeSelectorTerms[i], node) {
			return true
		}
	}
	return false
}

// matchesNodeSelectorTerm ANDs the term's requirements; a term without any
// requirement matches no node.
func matchesNodeSelectorTerm(t *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for i := range t.MatchExpressions {
		r := &t.MatchExpressions[i]
		v, ok := node.Labels[r.Key]
		if !matchesRequirement(r, v, ok) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || !matchesRequirement(r, node.Name, true) {
			return false // metadata.name is the only field selectable, as upstream
		}
	}
	return true
}

func matchesRequirement(r *corev1.NodeSelectorRequirement, v string, present bool) bool {
	in := func() bool {
		for _, x := range r.Values {
			if x == v {
				return true
			}
		}
		return false
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return present && in()
	case corev1.NodeSelectorOpNotIn:
		return !present || !in()
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present || len(r.Values) != 1 {
			return false
		}
		lv, err1 := strconv.ParseInt(v, 10, 64)
		rv, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return lv > rv
		}
		return lv < rv
	}
	return false
}

// NodePorts rejects nodes where a wanted host port is taken.
type NodePorts struct{}

func (NodePorts) Name() string { return "NodePorts" }

func (NodePorts) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	for _, want := range pod.HostPorts {
		for _, used := range ni.UsedPorts {
			if want.conflicts(used) {
				return unschedulable(ReasonNodePorts)
			}
		}
	}
	return nil
}

// NodeResourcesFit compares requests with allocatable minus the requests of
// the pods already on the node. It reports every lacking resource.
type NodeResourcesFit struct{}

func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

func (NodeResourcesFit) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	var reasons []string
	// A request larger than the whole node cannot be fixed by preemption.
	unresolvableToo := false
	check := func(name corev1.ResourceName, want, alloc, used int64) {
		if want > 0 && want > alloc-used {
			reasons = append(reasons, ReasonInsufficient(name))
			unresolvableToo = unresolvableToo || want > alloc
		}
	}
	if int64(len(ni.Pods))+1 > ni.Allocatable.AllowedPodNumber {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r, a, u := &pod.Requests, &ni.Allocatable, &ni.Requested
	check(corev1.ResourceCPU, r.MilliCPU, a.MilliCPU, u.MilliCPU)
	check(corev1.ResourceMemory, r.Memory, a.Memory, u.Memory)
	check(corev1.ResourceEphemeralStorage, r.EphemeralStorage, a.EphemeralStorage, u.EphemeralStorage)
	if len(r.Scalar) > 0 {
		names := make([]corev1.ResourceName, 0, len(r.Scalar))
		for n := range r.Scalar {
			names = append(names, n)
		}
		sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
		for _, n := range names {
			check(n, r.Scalar[n], a.Scalar[n], u.Scalar[n])
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	if unresolvableToo {
		return unresolvable(reasons...)
	}
	return unschedulable(reasons...)
}

// spreadConstraint is a topology spread constraint with its selector
// compiled and matchLabelKeys merged in.
type spreadConstraint struct {
	MaxSkew      int32
	MinDomains   int32
	TopologyKey  string
	Selector     labels.Selector
	HonorAffin   bool // nodeAffinityPolicy Honor (the default)
	HonorTaints  bool // nodeTaintsPolicy Honor (default Ignore)
	selfMatchNum int
}

func spreadConstraints(pod *corev1.Pod, when corev1.UnsatisfiableConstraintAction) []spreadConstraint {
	var out []spreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if req, err := labels.NewRequirement(k, "in", []string{v}); err == nil {
					sel = sel.Add(*req)
				}
			}
		}
		sc := spreadConstraint{MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, Selector: sel, HonorAffin: true}
		if c.MinDomains != nil {
			sc.MinDomains = *c.MinDomains
		}
		if p := c.NodeAffinityPolicy; p != nil && *p == corev1.NodeInclusionPolicyIgnore {
			sc.HonorAffin = false
		}
		if p := c.NodeTaintsPolicy; p != nil && *p == corev1.NodeInclusionPolicyHonor {
			sc.HonorTaints = true
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			sc.selfMatchNum = 1
		}
		out = append(out, sc)
	}
	return out
}

// spreadCounts counts, per constraint and topology value, the pods of the
// pod's namespace that match the constraint's selector, over the nodes the
// constraint considers (those with every constraint's key and, by policy,
// matching the pod's node affinity and tolerating the node's taints).
func spreadCounts(pod *PodInfo, cs []spreadConstraint, nodes []*NodeInfo) []map[string]int {
	// Count per node in parallel (the pods of 5,000 nodes are a lot of
	// pointers to chase), then sum per domain in order.
	perNode := make([]int, len(nodes)*len(cs))
	parallelize(len(nodes), defaultWorkers(), func(j int) {
		ni, row := nodes[j], perNode[j*len(cs):(j+1)*len(cs)]
		for i := range row {
			row[i] = -1 // node not considered
		}
		if !hasAllKeys(ni.Node, cs) {
			return
		}
		affinityOK := matchesNodeSelectorAndAffinity(pod.Pod, ni.Node)
		taintsOK := firstUntolerated(ni.Node.Spec.Taints, pod.Pod.Spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute) == nil
		for i := range cs {
			c := &cs[i]
			if (c.HonorAffin && !affinityOK) || (c.HonorTaints && !taintsOK) {
				continue
			}
			n := 0
			for _, p := range ni.Pods {
				if p.Pod.Namespace == pod.Pod.Namespace && p.Pod.DeletionTimestamp == nil && c.Selector.Matches(labels.Set(p.Pod.Labels)) {
					n++
				}
			}
			row[i] = n
		}
	})
	counts := make([]map[string]int, len(cs))
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for j, ni := range nodes {
		for i := range cs {
			if n := perNode[j*len(cs)+i]; n >= 0 {
				counts[i][ni.Node.Labels[cs[i].TopologyKey]] += n
			}
		}
	}
	return counts
}

func hasAllKeys(node *corev1.Node, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].TopologyKey]; !ok {
			return false
		}
	}
	return true
}

// PodTopologySpread enforces DoNotSchedule constraints: placing the pod
// must not make its domain exceed the least loaded domain by more than
// maxSkew. Nodes without a constraint's key are excluded.
type PodTopologySpread struct{}

func (PodTopologySpread) Name() string { return "PodTopologySpread" }

func (PodTopologySpread) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	f, st := PodTopologySpread{}.PreFilter(pod, &Snapshot{Nodes: []*NodeInfo{ni}})
	if st != nil {
		return st
	}
	if f == nil {
		return nil
	}
	return f.Filter(pod, ni)
}

func (PodTopologySpread) PreFilter(pod *PodInfo, snap *Snapshot) (Filter, *Status) {
	cs := spreadConstraints(pod.Pod, corev1.DoNotSchedule)
	if len(cs) == 0 {
		return nil, nil
	}
	counts := spreadCounts(pod, cs, snap.Nodes)
	mins := make([]int, len(cs))
	for i := range cs {
		m := -1
		for _, n := range counts[i] {
			if m < 0 || n < m {
				m = n
			}
		}
		// Fewer domains than minDomains: the missing ones count as empty.
		if m < 0 || int32(len(counts[i])) < cs[i].MinDomains {
			m = 0
		}
		mins[i] = m
	}
	return &spreadFilter{cs: cs, counts: counts, mins: mins}, nil
}

type spreadFilter struct {
	cs     []spreadConstraint
	counts []map[string]int
	mins   []int
}

func (*spreadFilter) Name() string { return "PodTopologySpread" }

func (f *spreadFilter) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	if !hasAllKeys(ni.Node, f.cs) {
		return unresolvable(ReasonSpreadMissingLabel)
	}
	for i := range f.cs {
		c := &f.cs[i]
		skew := f.counts[i][ni.Node.Labels[c.TopologyKey]] + c.selfMatchNum - f.mins[i]
		if skew > int(c.MaxSkew) {
			return unschedulable(ReasonSpread)
		}
	}
	return nil
}

type topologyPair struct{ key, value string }

// InterPodAffinity enforces required pod affinity and anti-affinity, the
// incoming pod's and, symmetrically, the anti-affinity of pods already
// running (so a pod that repels the newcomer is respected).
type InterPodAffinity struct{}

func (InterPodAffinity) Name() string { return "InterPodAffinity" }

func (InterPodAffinity) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	snap := newSnapshot([]*NodeInfo{ni})
	f, st := InterPodAffinity{}.PreFilter(pod, snap)
	if st != nil {
		return st
	}
	if f == nil {
		return nil
	}
	return f.Filter(pod, ni)
}

func (InterPodAffinity) PreFilter(pod *PodInfo, snap *Snapshot) (Filter, *Status) {
	s := &affinityFilter{}
	podNS := snap.NamespaceLabels[pod.Pod.Namespace]
	// Existing pods whose required anti-affinity selects the incoming pod.
	for _, ni := range snap.withRequiredAntiAffinity {
		for _, ep := range ni.PodsWithRequiredAntiAffinity {
			for i := range ep.RequiredAntiAffinity {
				t := &ep.RequiredAntiAffinity[i]
				if v, ok := ni.Node.Labels[t.TopologyKey]; ok && t.Matches(pod.Pod, podNS) {
					if s.existingAnti == nil {
						s.existingAnti = map[topologyPair]int{}
					}
					s.existingAnti[topologyPair{t.TopologyKey, v}]++
				}
			}
		}
	}
	if len(pod.RequiredAffinity) > 0 || len(pod.RequiredAntiAffinity) > 0 {
		s.affinity, s.anti = map[topologyPair]int{}, map[topologyPair]int{}
		// Per node: pods matching all affinity terms, then pods matching
		// each anti-affinity term; counted in parallel, summed in order.
		width := 1 + len(pod.RequiredAntiAffinity)
		perNode := make([]int, len(snap.Nodes)*width)
		parallelize(len(snap.Nodes), defaultWorkers(), func(j int) {
			row := perNode[j*width : (j+1)*width]
			for _, ep := range snap.Nodes[j].Pods {
				epNS := snap.NamespaceLabels[ep.Pod.Namespace]
				if matchesAllTerms(pod.RequiredAffinity, ep.Pod, epNS) {
					row[0]++
				}
				for i := range pod.RequiredAntiAffinity {
					if pod.RequiredAntiAffinity[i].Matches(ep.Pod, epNS) {
						row[1+i]++
					}
				}
			}
		})
		for j, ni := range snap.Nodes {
			row := perNode[j*width : (j+1)*width]
			for i := range pod.RequiredAffinity {
				if v, ok := ni.Node.Labels[pod.RequiredAffinity[i].TopologyKey]; ok && row[0] > 0 {
					s.affinity[topologyPair{pod.RequiredAffinity[i].TopologyKey, v}] += row[0]
				}
			}
			for i := range pod.RequiredAntiAffinity {
				if v, ok := ni.Node.Labels[pod.RequiredAntiAffinity[i].TopologyKey]; ok && row[1+i] > 0 {
					s.anti[topologyPair{pod.RequiredAntiAffinity[i].TopologyKey, v}] += row[1+i]
				}
			}
		}
		// The first pod of a group with affinity to itself may go anywhere
		// its topology keys exist.
		s.selfAffine = len(s.affinity) == 0 && matchesAllTerms(pod.RequiredAffinity, pod.Pod, podNS)
	}
	if s.existingAnti == nil && s.affinity == nil {
		return nil, nil
	}
	return s, nil
}

func matchesAllTerms(terms []AffinityTerm, p *corev1.Pod, nsLabels labels.Set) bool {
	for i := range terms {
		if !terms[i].Matches(p, nsLabels) {
			return false
		}
	}
	return len(terms) > 0
}

type affinityFilter struct {
	existingAnti map[topologyPair]int
	affinity     map[topologyPair]int
	anti         map[topologyPair]int
	selfAffine   bool
}

func (*affinityFilter) Name() string { return "InterPodAffinity" }

func (s *affinityFilter) Filter(pod *PodInfo, ni *NodeInfo) *Status {
	lbls := ni.Node.Labels
	podsExist := true
	for i := range pod.RequiredAffinity {
		v, ok := lbls[pod.RequiredAffinity[i].TopologyKey]
		if !ok {
			return unresolvable(ReasonAffinity)
		}
		if s.affinity[topologyPair{pod.RequiredAffinity[i].TopologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if !podsExist && !s.selfAffine {
		return unresolvable(ReasonAffinity)
	}
	for i := range pod.RequiredAntiAffinity {
		k := pod.RequiredAntiAffinity[i].TopologyKey
		if v, ok := lbls[k]; ok && s.anti[topologyPair{k, v}] > 0 {
			return unschedulable(ReasonAntiAffinity)
		}
	}
	for tp, n := range s.existingAnti {
		if v, ok := lbls[tp.key]; ok && v == tp.value && n > 0 {
			return unschedulable(ReasonExistingAntiAffinity)
		}
	}
	return nil
}
