package scheduler

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// Scoring substitutes these for containers without requests, as upstream
// does, so that "best effort" pods still spread instead of piling onto the
// node that looks emptiest.
const (
	defaultMilliCPURequest int64 = 100               // 0.1 core
	defaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of every schedulable resource. Extended resources
// (nvidia.com/gpu, hugepages-*, ...) live in Scalar.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	AllowedPodNumber int64 // only meaningful for allocatable
	Scalar           map[corev1.ResourceName]int64
}

func resourceFromList(rl corev1.ResourceList) Resource {
	var r Resource
	r.addList(rl)
	return r
}

func (r *Resource) addList(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] += q.Value()
		}
	}
}

func (r *Resource) add(o *Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] += sign * v
	}
}

// setMax raises every amount of r to at least o's.
func (r *Resource) setMax(o *Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] = max(r.Scalar[name], v)
	}
}

func (r Resource) clone() Resource {
	if r.Scalar != nil {
		s := make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			s[k] = v
		}
		r.Scalar = s
	}
	return r
}

// HostPort is one port a pod takes on its node's network namespace.
type HostPort struct {
	IP       string // "" and "0.0.0.0" mean every address
	Protocol corev1.Protocol
	Port     int32
}

func (a HostPort) conflicts(b HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	wild := func(ip string) bool { return ip == "" || ip == "0.0.0.0" }
	return wild(a.IP) || wild(b.IP) || a.IP == b.IP
}

// AffinityTerm is a pod (anti-)affinity term with its selectors compiled
// once, so that matching it against thousands of pods costs no parsing.
type AffinityTerm struct {
	Namespaces        map[string]struct{}
	NamespaceSelector labels.Selector // Nothing() unless set in the term
	Selector          labels.Selector
	TopologyKey       string
	Weight            int32 // preferred terms only
}

// Matches reports whether pod p (whose namespace has labels nsLabels) is
// selected by the term.
func (t *AffinityTerm) Matches(p *corev1.Pod, nsLabels labels.Set) bool {
	if _, ok := t.Namespaces[p.Namespace]; !ok && !t.NamespaceSelector.Matches(nsLabels) {
		return false
	}
	return t.Selector.Matches(labels.Set(p.Labels))
}

func newAffinityTerm(pod *corev1.Pod, t *corev1.PodAffinityTerm, weight int32) AffinityTerm {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		sel = labels.Nothing() // invalid selectors were rejected by validation; be safe
	}
	nsSel := labels.Nothing()
	if t.NamespaceSelector != nil {
		if s, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector); err == nil {
			nsSel = s
		}
	}
	ns := make(map[string]struct{}, len(t.Namespaces)+1)
	for _, n := range t.Namespaces {
		ns[n] = struct{}{}
	}
	// No namespaces and no namespace selector means "the pod's own".
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		ns[pod.Namespace] = struct{}{}
	}
	return AffinityTerm{Namespaces: ns, NamespaceSelector: nsSel, Selector: sel, TopologyKey: t.TopologyKey, Weight: weight}
}

// PodInfo is a pod with everything the filters and scores need computed
// once when the pod enters the cache or the queue; PodInfos are immutable.
type PodInfo struct {
	Pod      *corev1.Pod
	Key      string // namespace/name
	Priority int32
	OwnerUID types.UID // the controller owner, "" if none

	Requests   Resource // effective requests: init-container max rule, sidecars, overhead
	NonZeroCPU int64    // requests with scoring defaults for unset values
	NonZeroMem int64

	HostPorts []HostPort

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []AffinityTerm
	PreferredAntiAffinity []AffinityTerm
}

// NewPodInfo precomputes a pod's scheduling facts.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Key: pod.Namespace + "/" + pod.Name}
	if pod.Spec.Priority != nil {
		pi.Priority = *pod.Spec.Priority
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		pi.OwnerUID = ref.UID
	}
	pi.Requests, pi.NonZeroCPU, pi.NonZeroMem = podRequests(pod)
	collectPorts := func(cs []corev1.Container) {
		for i := range cs {
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				pi.HostPorts = append(pi.HostPorts, HostPort{IP: p.HostIP, Protocol: proto, Port: p.HostPort})
			}
		}
	}
	collectPorts(pod.Spec.Containers)
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			collectPorts(pod.Spec.InitContainers[i : i+1])
		}
	}
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				pi.RequiredAffinity = append(pi.RequiredAffinity, newAffinityTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0))
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				pi.PreferredAffinity = append(pi.PreferredAffinity, newAffinityTerm(pod, &w.PodAffinityTerm, w.Weight))
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				pi.RequiredAntiAffinity = append(pi.RequiredAntiAffinity, newAffinityTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i], 0))
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				pi.PreferredAntiAffinity = append(pi.PreferredAntiAffinity, newAffinityTerm(pod, &w.PodAffinityTerm, w.Weight))
			}
		}
	}
	return pi
}

func (pi *PodInfo) hasAffinity() bool {
	return len(pi.RequiredAffinity)+len(pi.RequiredAntiAffinity)+len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) > 0
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// podRequests applies upstream's rule: a pod needs the larger of (all app
// containers plus sidecars) and (each init container plus the sidecars
// started before it), plus the runtime overhead. Pod-level requests, when
// set, replace the container sum for the resources they name.
func podRequests(pod *corev1.Pod) (req Resource, nonZeroCPU, nonZeroMem int64) {
	var sidecars, sidecarsNZ Resource
	var initMax, initMaxNZ Resource
	nonZero := func(c *corev1.Container) Resource {
		r := Resource{MilliCPU: defaultMilliCPURequest, Memory: defaultMemoryRequest}
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			r.MilliCPU = q.MilliValue()
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
			r.Memory = q.Value()
		}
		return r
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r, nz := resourceFromList(c.Resources.Requests), nonZero(c)
		if isSidecar(c) {
			sidecars.add(&r, 1)
			sidecarsNZ.add(&nz, 1)
			r, nz = sidecars.clone(), sidecarsNZ
		} else {
			r.add(&sidecars, 1)
			nz.add(&sidecarsNZ, 1)
		}
		initMax.setMax(&r)
		initMaxNZ.setMax(&nz)
	}
	nz := sidecarsNZ
	req = sidecars.clone()
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		req.addList(c.Resources.Requests)
		n := nonZero(c)
		nz.add(&n, 1)
	}
	if pr := pod.Spec.Resources; pr != nil {
		if q, ok := pr.Requests[corev1.ResourceCPU]; ok {
			req.MilliCPU, nz.MilliCPU = q.MilliValue(), q.MilliValue()
		}
		if q, ok := pr.Requests[corev1.ResourceMemory]; ok {
			req.Memory, nz.Memory = q.Value(), q.Value()
		}
	}
	req.setMax(&initMax)
	nz.setMax(&initMaxNZ)
	if pod.Spec.Overhead != nil {
		o := resourceFromList(pod.Spec.Overhead)
		req.add(&o, 1)
		nz.add(&o, 1)
	}
	req.AllowedPodNumber = 0
	return req, nz.MilliCPU, nz.Memory
}

// NodeInfo is a node with the pods bound (or assumed bound) to it and their
// totals. Within a Snapshot it is read-only.
type NodeInfo struct {
	Node *corev1.Node
	Pods []*PodInfo
	// Pods with any (anti-)affinity term, and with required anti-affinity:
	// the only existing pods inter-pod affinity has to look at.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo

	Allocatable      Resource
	Requested        Resource
	NonZeroRequested Resource // cpu and memory with scoring defaults
	UsedPorts        []HostPort
	ownerCounts      map[types.UID]int32 // pods per controller owner, for spreading

	generation int64 // bumped on every change; lets the cache copy only changed nodes
}

// NewNodeInfo returns a NodeInfo for node with pods bound to it.
func NewNodeInfo(node *corev1.Node, pods ...*PodInfo) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(node)
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Name is the node's name ("" when only pods are known so far).
func (ni *NodeInfo) Name() string {
	if ni.Node == nil {
		return ""
	}
	return ni.Node.Name
}

// SetNode replaces the node object, keeping the pods.
func (ni *NodeInfo) SetNode(node *corev1.Node) {
	ni.Node = node
	ni.Allocatable = Resource{}
	if node != nil {
		ni.Allocatable = resourceFromList(node.Status.Allocatable)
	}
	ni.generation++
}

// AddPod accounts pod to the node.
func (ni *NodeInfo) AddPod(p *PodInfo) {
	ni.Pods = append(ni.Pods, p)
	if p.hasAffinity() {
		ni.PodsWithAffinity = append(ni.PodsWithAffinity, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		ni.PodsWithRequiredAntiAffinity = append(ni.PodsWithRequiredAntiAffinity, p)
	}
	ni.updateUsage(p, 1)
}

// RemovePod removes the pod with p's key; it reports whether it was there.
func (ni *NodeInfo) RemovePod(p *PodInfo) bool {
	var found *PodInfo
	ni.Pods, found = removeByKey(ni.Pods, p.Key)
	if found == nil {
		return false
	}
	ni.PodsWithAffinity, _ = removeByKey(ni.PodsWithAffinity, p.Key)
	ni.PodsWithRequiredAntiAffinity, _ = removeByKey(ni.PodsWithRequiredAntiAffinity, p.Key)
	ni.updateUsage(found, -1)
	return true
}

func removeByKey(s []*PodInfo, key string) ([]*PodInfo, *PodInfo) {
	for i, p := range s {
		if p.Key == key {
			last := len(s) - 1
			s[i] = s[last]
			s[last] = nil
			return s[:last], p
		}
	}
	return s, nil
}

func (ni *NodeInfo) updateUsage(p *PodInfo, sign int64) {
	ni.Requested.add(&p.Requests, sign)
	ni.NonZeroRequested.MilliCPU += sign * p.NonZeroCPU
	ni.NonZeroRequested.Memory += sign * p.NonZeroMem
	if sign > 0 {
		ni.UsedPorts = append(ni.UsedPorts, p.HostPorts...)
	} else if len(p.HostPorts) > 0 {
		ni.UsedPorts = ni.UsedPorts[:0:0]
		for _, q := range ni.Pods {
			ni.UsedPorts = append(ni.UsedPorts, q.HostPorts...)
		}
	}
	if p.OwnerUID != "" {
		if ni.ownerCounts == nil {
			ni.ownerCounts = map[types.UID]int32{}
		}
		ni.ownerCounts[p.OwnerUID] += int32(sign)
		if ni.ownerCounts[p.OwnerUID] <= 0 {
			delete(ni.ownerCounts, p.OwnerUID)
		}
	}
	ni.generation++
}

// Clone returns a copy that shares only the immutable PodInfos and Node.
func (ni *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		Node:                         ni.Node,
		Pods:                         append([]*PodInfo(nil), ni.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), ni.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), ni.PodsWithRequiredAntiAffinity...),
		Allocatable:                  ni.Allocatable.clone(),
		Requested:                    ni.Requested.clone(),
		NonZeroRequested:             ni.NonZeroRequested.clone(),
		UsedPorts:                    append([]HostPort(nil), ni.UsedPorts...),
		generation:                   ni.generation,
	}
	if len(ni.ownerCounts) > 0 {
		c.ownerCounts = make(map[types.UID]int32, len(ni.ownerCounts))
		for k, v := range ni.ownerCounts {
			c.ownerCounts[k] = v
		}
	}
	return c
}

// Snapshot is the cluster as one scheduling decision sees it. It is not
// changed while a decision runs, which is what makes Schedule pure.
type Snapshot struct {
	// Nodes sorted by name; only nodes whose Node object is known.
	Nodes  []*NodeInfo
	byName map[string]*NodeInfo
	// NamespaceLabels resolves namespaceSelector in affinity terms; a
	// namespace missing here has no labels.
	NamespaceLabels map[string]labels.Set
	// Volumes resolves the pod's claims (VolumeBinding); nil: there are
	// none, so a pod that mounts one fits nowhere.
	Volumes Volumes

	withAffinity             []*NodeInfo
	withRequiredAntiAffinity []*NodeInfo
	// nominated: pending pods waiting for room preemption made, by node.
	nominated map[string][]*PodInfo
}

// Nominate adds a pending pod nominated to node (status.nominatedNodeName)
// to a snapshot built by NewSnapshot: the harness's view of the nominator.
func (s *Snapshot) Nominate(pod *corev1.Pod, node string) {
	if s.nominated == nil {
		s.nominated = map[string][]*PodInfo{}
	}
	s.nominated[node] = append(s.nominated[node], NewPodInfo(pod))
}

// withNominated returns ni with the pods nominated to it that pod must
// leave room for (equal or higher priority, not pod itself) added, or nil
// when there are none.
func (s *Snapshot) withNominated(pod *PodInfo, ni *NodeInfo) *NodeInfo {
	if len(s.nominated) == 0 {
		return nil // the usual case: no hashing of the node name per filter call
	}
	var with *NodeInfo
	for _, np := range s.nominated[ni.Name()] {
		if np.Key == pod.Key || np.Priority < pod.Priority {
			continue
		}
		if with == nil {
			with = ni.Clone()
		}
		with.AddPod(np)
	}
	return with
}

// NewSnapshot builds a snapshot from objects: the harness for tests and
// tools. Pods without spec.nodeName, terminal pods and pods on unknown
// nodes are ignored.
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	infos := make(map[string]*NodeInfo, len(nodes))
	for _, n := range nodes {
		infos[n.Name] = NewNodeInfo(n)
	}
	for _, p := range pods {
		if ni := infos[p.Spec.NodeName]; ni != nil && !isTerminal(p) {
			ni.AddPod(NewPodInfo(p))
		}
	}
	list := make([]*NodeInfo, 0, len(infos))
	for _, ni := range infos {
		list = append(list, ni)
	}
	return newSnapshot(list)
}

func newSnapshot(nodes []*NodeInfo) *Snapshot {
	s := &Snapshot{Nodes: nodes, byName: make(map[string]*NodeInfo, len(nodes))}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name() < s.Nodes[j].Name() })
	for _, ni := range s.Nodes {
		s.byName[ni.Name()] = ni
	}
	s.reindex()
	return s
}

// reindex recomputes the short lists of nodes that hold pods with affinity.
func (s *Snapshot) reindex() {
	s.withAffinity, s.withRequiredAntiAffinity = s.withAffinity[:0], s.withRequiredAntiAffinity[:0]
	for _, ni := range s.Nodes {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withRequiredAntiAffinity = append(s.withRequiredAntiAffinity, ni)
		}
	}
}

// Get returns the named node, or nil.
func (s *Snapshot) Get(name string) *NodeInfo {
	if s.byName != nil {
		return s.byName[name]
	}
	i := sort.Search(len(s.Nodes), func(i int) bool { return s.Nodes[i].Name() >= name })
	if i < len(s.Nodes) && s.Nodes[i].Name() == name {
		return s.Nodes[i]
	}
	return nil
}

// withNode returns a shallow copy of s in which ni replaces the node of the
// same name: preemption's "what if these pods were gone" view.
func (s *Snapshot) withNode(ni *NodeInfo) *Snapshot {
	c := &Snapshot{Nodes: make([]*NodeInfo, len(s.Nodes)), byName: s.byName, NamespaceLabels: s.NamespaceLabels, Volumes: s.Volumes, nominated: s.nominated}
	copy(c.Nodes, s.Nodes)
	i := sort.Search(len(c.Nodes), func(i int) bool { return c.Nodes[i].Name() >= ni.Name() })
	if i < len(c.Nodes) && c.Nodes[i].Name() == ni.Name() {
		c.Nodes[i] = ni
	}
	c.byName = nil // Get falls back to binary search in this rarely used view
	c.reindex()
	return c
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
