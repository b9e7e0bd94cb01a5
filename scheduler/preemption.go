package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Reasons of a failed preemption, per node, as upstream words them.
const (
	ReasonPreemptionNotHelpful = "Preemption is not helpful for scheduling"
	ReasonNoVictims            = "No preemption victims found for incoming pod"
)

// Preemption is the outcome of a preemption attempt: a node where the pod
// fits once Victims are gone, or Message explaining why there is none.
type Preemption struct {
	Node    string
	Victims []*corev1.Pod
	Message string // "preemption: 0/3 nodes are available: ..." on failure
}

// Preempt looks for a node where evicting pods of lower priority than pod
// lets it fit, given the failed decision d over the same snapshot. Among
// candidates it chooses, as upstream, the node whose most important victim
// has the lowest priority, then the lowest sum of victim priorities, then
// the fewest victims, then the first by name. Victims are minimal: after
// removing every lower-priority pod, the most important ones are put back
// one by one while the pod still fits.
func (p *Profile) Preempt(pod *PodInfo, snap *Snapshot, d *Decision) Preemption {
	if pp := pod.Pod.Spec.PreemptionPolicy; pp != nil && *pp == corev1.PreemptNever {
		return Preemption{Message: "preemption: not eligible due to preemptionPolicy=Never"}
	}
	// Filters that looked at the whole cluster must look again at a view in
	// which the candidate node has lost its victims; when none did, the
	// cycle prepared on snap is valid for every modified node.
	base, st := p.prepare(pod, snap)
	if st != nil {
		return Preemption{Message: "preemption: " + st.Reasons[0]}
	}
	clusterWide := false
	for _, f := range base.filters {
		switch f.(type) {
		case *spreadFilter, *affinityFilter:
			clusterWide = true
		}
	}
	fits := func(ni *NodeInfo) bool {
		c := base
		if clusterWide {
			var st *Status
			if c, st = p.prepare(pod, snap.withNode(ni)); st != nil {
				return false
			}
		}
		return c.filterNode(pod, snap, ni) == nil
	}

	type candidate struct {
		node                   string
		victims                []*PodInfo
		highest, sum, numVictm int64
	}
	var best *candidate
	better := func(a, b *candidate) bool {
		if a.highest != b.highest {
			return a.highest < b.highest
		}
		if a.sum != b.sum {
			return a.sum < b.sum
		}
		return a.numVictm < b.numVictm
	}
	// Like upstream, stop after enough candidates: a better one among the
	// rest is rarely worth a dry run on every node of a large cluster.
	wanted := max(len(snap.Nodes)/10, 100)
	found := 0
	failures := map[string]int{} // reason: nodes
	statuses := d.statuses
	if len(statuses) != len(snap.Nodes) {
		statuses = nil // d was decided on another snapshot: nothing to go by
	}
	for i, ni := range snap.Nodes {
		if found >= wanted || statuses == nil {
			break
		}
		st := statuses[i]
		if st == nil {
			continue // not evaluated or feasible: nothing to preempt here
		}
		if st.Code != Unschedulable {
			failures[ReasonPreemptionNotHelpful]++
			continue
		}
		var lower []*PodInfo
		for _, ep := range ni.Pods {
			if ep.Priority < pod.Priority && ep.Pod.DeletionTimestamp == nil {
				lower = append(lower, ep)
			}
		}
		if len(lower) == 0 {
			failures[ReasonNoVictims]++
			continue
		}
		trial := ni.Clone()
		for _, v := range lower {
			trial.RemovePod(v)
		}
		if !fits(trial) {
			failures[ReasonPreemptionNotHelpful]++
			continue
		}
		// Reprieve the most important pods first (then the longest
		// running), so victims are the least important ones.
		sort.SliceStable(lower, func(i, j int) bool {
			if lower[i].Priority != lower[j].Priority {
				return lower[i].Priority > lower[j].Priority
			}
			return startTime(lower[i]).Before(startTime(lower[j]))
		})
		c := &candidate{node: ni.Name()}
		for _, v := range lower {
			trial.AddPod(v)
			if !fits(trial) {
				trial.RemovePod(v)
				c.victims = append(c.victims, v)
			}
		}
		if len(c.victims) == 0 {
			continue // fits without evicting (the snapshot changed); let the next attempt bind
		}
		c.highest = int64(c.victims[0].Priority)
		for _, v := range c.victims {
			c.highest = max(c.highest, int64(v.Priority))
			c.sum += int64(v.Priority)
		}
		c.numVictm = int64(len(c.victims))
		found++
		if best == nil || better(c, best) {
			best = c
		}
	}
	if best == nil {
		return Preemption{Message: fmt.Sprintf("preemption: 0/%d nodes are available: %s",
			len(snap.Nodes), strings.Join(formatHistogram(failures), ", "))}
	}
	out := Preemption{Node: best.node}
	for _, v := range best.victims {
		out.Victims = append(out.Victims, v.Pod)
	}
	return out
}

// startTime is when the pod started, or was created if it has not.
func startTime(p *PodInfo) time.Time {
	if st := p.Pod.Status.StartTime; st != nil {
		return st.Time
	}
	return p.Pod.CreationTimestamp.Time
}
