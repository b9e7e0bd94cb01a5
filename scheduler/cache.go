package scheduler

import (
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Cache is the scheduler's incrementally maintained view of nodes and the
// pods placed on them, including pods it has assumed onto a node while
// their binding is in flight, so the next decision already counts them.
// Informer events change it in O(pods on the node); UpdateSnapshot copies
// only the nodes changed since the previous snapshot, so a decision costs
// nothing proportional to the cluster size before it even starts.
type Cache struct {
	mu         sync.Mutex
	nodes      map[string]*NodeInfo // Node nil: pods seen for a node not (yet) known
	pods       map[string]*cachedPod
	namespaces map[string]labels.Set
	dirty      map[string]struct{}
	nsDirty    bool
	// nominated: pending pods that preemption made room for, by key, with
	// the node they wait for (status.nominatedNodeName, or our own
	// decision before the API shows it).
	nominated      map[string]nominatedPod
	nominatedDirty bool
}

type nominatedPod struct {
	info *PodInfo
	node string
}

type cachedPod struct {
	info    *PodInfo
	node    string
	assumed bool // placed by us, not yet confirmed by the informer
	bound   bool // the binding call returned
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{
		nodes:      map[string]*NodeInfo{},
		pods:       map[string]*cachedPod{},
		namespaces: map[string]labels.Set{},
		dirty:      map[string]struct{}{},
		nominated:  map[string]nominatedPod{},
	}
}

// Nominate records that the pending pod pi waits for node, where
// preemption freed room for it. Decisions for pods of equal or lower
// priority treat that room as taken, as upstream's nominator does.
func (c *Cache) Nominate(pi *PodInfo, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setNominatedLocked(pi.Key, pi, node)
}

// ClearNomination forgets the nomination of the pod with key, if any.
func (c *Cache) ClearNomination(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setNominatedLocked(key, nil, "")
}

func (c *Cache) setNominatedLocked(key string, pi *PodInfo, node string) {
	old, had := c.nominated[key]
	switch {
	case node == "" && !had:
		return
	case node == "":
		delete(c.nominated, key)
	case had && old.node == node && old.info == pi:
		return
	default:
		c.nominated[key] = nominatedPod{info: pi, node: node}
	}
	c.nominatedDirty = true
}

func (c *Cache) nodeInfo(name string) *NodeInfo {
	ni, ok := c.nodes[name]
	if !ok {
		ni = &NodeInfo{}
		c.nodes[name] = ni
	}
	c.dirty[name] = struct{}{}
	return ni
}

// AddNode adds or replaces a node; UpdateNode is the same.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(node.Name).SetNode(node)
}

// UpdateNode replaces a node.
func (c *Cache) UpdateNode(node *corev1.Node) { c.AddNode(node) }

// RemoveNode drops a node. Its pods stay accounted until they are deleted,
// so a node that returns under the same name is not overcommitted.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni, ok := c.nodes[name]
	if !ok {
		return
	}
	c.dirty[name] = struct{}{}
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
		return
	}
	ni.SetNode(nil)
}

func (c *Cache) addLocked(pi *PodInfo, node string, assumed bool) {
	c.nodeInfo(node).AddPod(pi)
	c.pods[pi.Key] = &cachedPod{info: pi, node: node, assumed: assumed}
}

func (c *Cache) removeLocked(cp *cachedPod) {
	if ni, ok := c.nodes[cp.node]; ok {
		ni.RemovePod(cp.info)
		c.dirty[cp.node] = struct{}{}
		if ni.Node == nil && len(ni.Pods) == 0 {
			delete(c.nodes, cp.node)
		}
	}
	delete(c.pods, cp.info.Key)
}

// AddPod records a pod the API shows bound to a node, confirming it if it
// was assumed. Terminal pods use no resources and are removed instead.
func (c *Cache) AddPod(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	if isTerminal(pod) {
		c.RemovePod(pod)
		return
	}
	pi := NewPodInfo(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp, ok := c.pods[pi.Key]; ok {
		c.removeLocked(cp)
	}
	c.addLocked(pi, pod.Spec.NodeName, false)
	c.setNominatedLocked(pi.Key, nil, "")
}

// UpdatePod is AddPod: the new object replaces whatever was cached.
func (c *Cache) UpdatePod(pod *corev1.Pod) { c.AddPod(pod) }

// RemovePod forgets a pod.
func (c *Cache) RemovePod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp, ok := c.pods[pod.Namespace+"/"+pod.Name]; ok {
		c.removeLocked(cp)
	}
}

// AssumePod places a pod on node before the API confirms it, so the pods
// scheduled while its binding is in flight see the resources it takes.
func (c *Cache) AssumePod(pi *PodInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pi.Key]; ok {
		return fmt.Errorf("pod %s is already in the cache", pi.Key)
	}
	pod := pi.Pod.DeepCopy()
	pod.Spec.NodeName = node
	assumed := *pi
	assumed.Pod = pod
	c.addLocked(&assumed, node, true)
	c.setNominatedLocked(pi.Key, nil, "") // it counts on its node now
	return nil
}

// FinishBinding notes that the binding call for an assumed pod returned;
// the pod stays until the informer confirms it or it is deleted.
func (c *Cache) FinishBinding(pi *PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp, ok := c.pods[pi.Key]; ok && cp.assumed {
		cp.bound = true
	}
}

// ForgetPod undoes AssumePod after a failed binding.
func (c *Cache) ForgetPod(pi *PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp, ok := c.pods[pi.Key]; ok && cp.assumed {
		c.removeLocked(cp)
	}
}

// IsAssumed reports whether the pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.pods[key]
	return ok && cp.assumed
}

// SetNamespace records a namespace's labels (for namespaceSelector);
// nil labels with deleted=true forgets it.
func (c *Cache) SetNamespace(name string, lbls map[string]string, deleted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.namespaces, name)
	} else {
		c.namespaces[name] = labels.Set(lbls)
	}
	c.nsDirty = true
}

// Counts returns the numbers of known nodes and cached pods.
func (c *Cache) Counts() (nodes, pods int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ni := range c.nodes {
		if ni.Node != nil {
			nodes++
		}
	}
	return nodes, len(c.pods)
}

// UpdateSnapshot brings s up to date, copying only the nodes changed since
// its last update. s must be owned by the caller (one per scheduling loop)
// and not in use by a decision meanwhile.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.byName == nil {
		s.byName = map[string]*NodeInfo{}
	}
	setChanged, affinityChanged := false, false
	for name := range c.dirty {
		old, had := s.byName[name]
		ni := c.nodes[name]
		if had && (len(old.PodsWithAffinity) > 0 || len(old.PodsWithRequiredAntiAffinity) > 0) {
			affinityChanged = true
		}
		if ni == nil || ni.Node == nil {
			if had {
				delete(s.byName, name)
				setChanged = true
			}
			continue
		}
		clone := ni.Clone()
		if len(clone.PodsWithAffinity) > 0 || len(clone.PodsWithRequiredAntiAffinity) > 0 {
			affinityChanged = true
		}
		s.byName[name] = clone
		if !had {
			setChanged = true
			continue
		}
		i := sort.Search(len(s.Nodes), func(i int) bool { return s.Nodes[i].Name() >= name })
		s.Nodes[i] = clone
	}
	clear(c.dirty)
	if setChanged {
		s.Nodes = s.Nodes[:0]
		for _, ni := range s.byName {
			s.Nodes = append(s.Nodes, ni)
		}
		sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name() < s.Nodes[j].Name() })
	}
	if setChanged || affinityChanged {
		s.reindex()
	}
	if c.nsDirty || s.NamespaceLabels == nil {
		// A fresh map: the snapshot must not share one the cache mutates.
		s.NamespaceLabels = make(map[string]labels.Set, len(c.namespaces))
		for k, v := range c.namespaces {
			s.NamespaceLabels[k] = v
		}
		c.nsDirty = false
	}
	if c.nominatedDirty || s.nominated == nil {
		s.nominated = make(map[string][]*PodInfo, len(c.nominated))
		for _, np := range c.nominated {
			s.nominated[np.node] = append(s.nominated[np.node], np.info)
		}
		c.nominatedDirty = false
	}
}
