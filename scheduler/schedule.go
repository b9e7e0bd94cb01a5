package scheduler

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
)

// Code says how a node failed a filter.
type Code int

const (
	// Unschedulable: the node does not fit now, but removing pods
	// (preemption) might make it fit.
	Unschedulable Code = iota + 1
	// UnschedulableAndUnresolvable: no preemption on this node can help
	// (wrong labels, taints, a request larger than the whole node).
	UnschedulableAndUnresolvable
)

// Status is a filter's verdict on one node; nil means the node passed.
type Status struct {
	Code    Code
	Reasons []string // each one is counted in the "0/N nodes are available" message
	Filter  string   // the failing filter's Name, set by the framework
}

func unschedulable(reasons ...string) *Status { return &Status{Code: Unschedulable, Reasons: reasons} }
func unresolvable(reasons ...string) *Status {
	return &Status{Code: UnschedulableAndUnresolvable, Reasons: reasons}
}

// Filter decides whether a pod may run on one node.
type Filter interface {
	Name() string
	Filter(pod *PodInfo, node *NodeInfo) *Status
}

// PreFilter is implemented by filters that need facts about the whole
// cluster (pod counts per topology domain). PreFilter returns the filter to
// use on each node for this one decision, nil when the pod gives the filter
// nothing to check, or a status that fails the pod on every node.
type PreFilter interface {
	Filter
	PreFilter(pod *PodInfo, snap *Snapshot) (Filter, *Status)
}

// Scorer rates a feasible node; higher is better. Scores are normalized to
// 0..MaxNodeScore before weighting, by Normalize when the scorer has it.
type Scorer interface {
	Name() string
	Score(pod *PodInfo, node *NodeInfo) int64
}

// PreScorer is a Scorer that precomputes per decision; it returns the
// scorer to use, or nil when the score would be the same on every node.
type PreScorer interface {
	Scorer
	PreScore(pod *PodInfo, snap *Snapshot, feasible []*NodeInfo) Scorer
}

// Normalizer rescales one scorer's raw scores in place to 0..MaxNodeScore.
type Normalizer interface {
	Normalize(scores []int64)
}

// MaxNodeScore is the top of every normalized score, as upstream.
const MaxNodeScore int64 = 100

// WeightedScorer is a scorer with its weight in the sum.
type WeightedScorer struct {
	Scorer
	Weight int64
}

// Profile is a set of filters and scorers: the scheduling policy.
type Profile struct {
	Filters []Filter
	Scorers []WeightedScorer
	// PercentageOfNodesToScore bounds the feasible nodes looked for, as
	// upstream: 0 is adaptive (50% minus 1% per 125 nodes, at least 5% and
	// at least 100 nodes), 100 looks at every node.
	PercentageOfNodesToScore int32
	// Parallelism is the number of goroutines filtering and scoring; 0 is
	// GOMAXPROCS.
	Parallelism int
}

// DefaultProfile returns upstream's default plugins and weights, with
// owner spreading in place of the default topology spread constraints.
func DefaultProfile() *Profile {
	return &Profile{
		Filters: []Filter{
			NodeUnschedulable{}, NodeName{}, TaintToleration{}, NodeAffinity{},
			NodePorts{}, NodeResourcesFit{}, VolumeBinding{}, PodTopologySpread{}, InterPodAffinity{},
		},
		Scorers: []WeightedScorer{
			{LeastAllocated{}, 1},
			{BalancedAllocation{}, 1},
			{OwnerSpread{}, 2},
			{NodeAffinityScore{}, 2},
			{InterPodAffinityScore{}, 2},
			{PodTopologySpreadScore{}, 2},
			{TaintTolerationScore{}, 3},
		},
	}
}

var defaultProfile = DefaultProfile()

// Schedule decides where pod goes in snap with the default profile,
// looking at nodes in name order: a pure function for tests and tools.
func Schedule(pod *corev1.Pod, snap *Snapshot) Decision {
	return defaultProfile.Schedule(NewPodInfo(pod), snap, 0)
}

// Decision is the outcome of one scheduling attempt.
type Decision struct {
	Node  string // the chosen node; "" when none fits
	Score int64
	// NumAllNodes, Evaluated: nodes in the snapshot and nodes filtered
	// (the loop rotates the start index by Evaluated, as upstream).
	NumAllNodes int
	Evaluated   int
	Feasible    int
	// statuses holds, at each node's index in the snapshot decided on,
	// the node's failure; nil for a feasible or unevaluated node. (A
	// slice, not a map by name: a pod that fits nowhere fails on every
	// node, and 5,000 map inserts and a histogram over them were most of
	// such an attempt's cost.)
	statuses []*Status
	// PreFilterMsg is set when the pod failed before any node was looked at.
	PreFilterMsg string
	// PostFilterMsg is preemption's explanation, when it ran and failed.
	PostFilterMsg string
}

// Scheduled reports whether a node was chosen.
func (d *Decision) Scheduled() bool { return d.Node != "" }

// Message explains a failed decision the way kube-scheduler does:
// "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2
// Insufficient cpu." Reasons are counted and the "<count> <reason>"
// strings sorted, as upstream's FitError does.
func (d *Decision) Message() string {
	if d.Scheduled() {
		return ""
	}
	if d.NumAllNodes == 0 {
		return "no nodes available to schedule pods"
	}
	msg := fmt.Sprintf("0/%d nodes are available:", d.NumAllNodes)
	if d.PreFilterMsg != "" {
		msg += " " + d.PreFilterMsg + "."
	} else if h := reasonHistogram(d.statuses); len(h) > 0 {
		msg += " " + strings.Join(h, ", ") + "."
	}
	if d.PostFilterMsg != "" {
		msg += " " + d.PostFilterMsg + "."
	}
	return msg
}

func reasonHistogram(statuses []*Status) []string {
	counts := map[string]int{}
	for _, st := range statuses {
		if st == nil {
			continue
		}
		for _, r := range st.Reasons {
			counts[r]++
		}
	}
	return formatHistogram(counts)
}

// formatHistogram makes the sorted "<count> <reason>" strings.
func formatHistogram(counts map[string]int) []string {
	out := make([]string, 0, len(counts))
	for r, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(out)
	return out
}

// FailedFilters lists the filters that rejected some node, for requeueing
// only on cluster events that could change their verdict.
func (d *Decision) FailedFilters() map[string]bool {
	out := map[string]bool{}
	for _, st := range d.statuses {
		if st != nil {
			out[st.Filter] = true
		}
	}
	return out
}

// cycle is a profile specialised to one pod and snapshot.
type cycle struct {
	filters []Filter
}

// prepare runs the PreFilters.
func (p *Profile) prepare(pod *PodInfo, snap *Snapshot) (*cycle, *Status) {
	c := &cycle{filters: make([]Filter, 0, len(p.Filters))}
	for _, f := range p.Filters {
		if pf, ok := f.(PreFilter); ok {
			bound, st := pf.PreFilter(pod, snap)
			if st != nil {
				st.Filter = f.Name()
				return nil, st
			}
			if bound == nil {
				continue
			}
			f = bound
		}
		c.filters = append(c.filters, f)
	}
	return c, nil
}

// filter runs the filters in order and stops at the first failure, so a
// node is counted once in the message under the first reason, as upstream.
func (c *cycle) filter(pod *PodInfo, ni *NodeInfo) *Status {
	for _, f := range c.filters {
		if st := f.Filter(pod, ni); st != nil {
			st.Filter = f.Name()
			return st
		}
	}
	return nil
}

// filterNode is filter with the room of nominated pods taken, as
// upstream's two passes: the pod must fit beside the pods of equal or
// higher priority nominated to the node (resources, ports, anti-affinity
// to them), and also without them (affinity they alone would satisfy).
func (c *cycle) filterNode(pod *PodInfo, snap *Snapshot, ni *NodeInfo) *Status {
	if with := snap.withNominated(pod, ni); with != nil {
		if st := c.filter(pod, with); st != nil {
			return st
		}
	}
	return c.filter(pod, ni)
}

func (p *Profile) numFeasibleNodesToFind(all int) int {
	const minNodes = 100
	if all < minNodes || p.PercentageOfNodesToScore >= 100 {
		return all
	}
	pct := int(p.PercentageOfNodesToScore)
	if pct <= 0 {
		pct = max(50-all/125, 5)
	}
	return max(all*pct/100, minNodes)
}

func (p *Profile) workers() int {
	if p.Parallelism > 0 {
		return p.Parallelism
	}
	return defaultWorkers()
}

func defaultWorkers() int { return min(runtime.GOMAXPROCS(0), 16) }

// parallelize runs fn(i) for i in [0,n) on up to workers goroutines; small
// inputs run inline because goroutines cost more than they save there.
func parallelize(n, workers int, fn func(i int)) {
	const chunk = 32
	if n <= chunk || workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	workers = min(workers, (n+chunk-1)/chunk)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}

// Schedule filters the nodes of snap starting at index start (wrapping),
// stops once enough feasible nodes are found, scores them and returns the
// best. Ties go to the first node in visiting order, so the outcome depends
// only on its inputs.
func (p *Profile) Schedule(pod *PodInfo, snap *Snapshot, start int) Decision {
	n := len(snap.Nodes)
	d := Decision{NumAllNodes: n}
	if n == 0 {
		return d
	}
	statuses := make([]*Status, n)
	d.statuses = statuses
	c, st := p.prepare(pod, snap)
	if st != nil {
		d.PreFilterMsg = strings.Join(st.Reasons, ", ")
		for i := range statuses {
			statuses[i] = st
		}
		return d
	}
	start = ((start % n) + n) % n
	want := p.numFeasibleNodesToFind(n)
	feasible := make([]*NodeInfo, 0, min(want, n))
	workers := p.workers()
	for done := 0; done < n && len(feasible) < want; {
		// Filter a block in parallel, then take results in visiting order:
		// which nodes count as "the first feasible ones" never depends on
		// goroutine timing.
		block := min(max(want-len(feasible), 64), n-done)
		parallelize(block, workers, func(i int) {
			idx := (start + done + i) % n
			statuses[idx] = c.filterNode(pod, snap, snap.Nodes[idx])
		})
		for i := 0; i < block; i++ {
			idx := (start + done + i) % n
			if len(feasible) == want {
				statuses[idx] = nil // filtered, but past the nodes evaluated
				continue
			}
			d.Evaluated++
			if statuses[idx] == nil {
				feasible = append(feasible, snap.Nodes[idx])
			}
		}
		done += block
	}
	d.Feasible = len(feasible)
	if len(feasible) == 0 {
		return d
	}
	if len(feasible) == 1 {
		d.Node = feasible[0].Name()
		return d
	}
	totals := p.score(pod, snap, feasible)
	best := 0
	for i := range totals {
		if totals[i] > totals[best] {
			best = i
		}
	}
	d.Node, d.Score = feasible[best].Name(), totals[best]
	return d
}

// score returns the weighted sum of normalized scores of every node.
func (p *Profile) score(pod *PodInfo, snap *Snapshot, nodes []*NodeInfo) []int64 {
	totals := make([]int64, len(nodes))
	scores := make([]int64, len(nodes))
	for _, ws := range p.Scorers {
		s := ws.Scorer
		if ps, ok := s.(PreScorer); ok {
			if s = ps.PreScore(pod, snap, nodes); s == nil {
				continue
			}
		}
		parallelize(len(nodes), p.workers(), func(i int) { scores[i] = s.Score(pod, nodes[i]) })
		if nz, ok := s.(Normalizer); ok {
			nz.Normalize(scores)
		}
		for i := range totals {
			totals[i] += ws.Weight * scores[i]
		}
	}
	return totals
}

// normalize scales scores to 0..MaxNodeScore by the largest one, inverting
// them when reverse (fewer is better), as upstream's DefaultNormalizeScore.
func normalize(scores []int64, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	if hi == 0 {
		if reverse {
			for i := range scores {
				scores[i] = MaxNodeScore
			}
		}
		return
	}
	for i, s := range scores {
		s = MaxNodeScore * s / hi
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i] = s
	}
}
