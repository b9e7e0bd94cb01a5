package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSpreadThreeReplicasAcrossThreeNodes(t *testing.T) {
	h := newHarness(t, makeNode("n1"), makeNode("n2"), makeNode("n3"))
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		seen[h.Place(makePod(fmt.Sprintf("web-%d", i), ownedBy("rs-web"), requests("cpu", "100m", "memory", "128Mi")))] = true
	}
	if len(seen) != 3 {
		t.Fatalf("replicas landed on %v, want three distinct nodes", seen)
	}
}

func TestOwnerSpreadBeatsEmptiness(t *testing.T) {
	// n1 is emptier, but already holds a replica: spreading wins over
	// least-allocated for best-effort replicas.
	h := newHarness(t, makeNode("n1", allocatable("cpu", "64"), allocatable("memory", "256Gi")), makeNode("n2"))
	h.Add(makePod("web-0", ownedBy("rs"), onNode("n1")))
	if got := h.Place(makePod("web-1", ownedBy("rs"))); got != "n2" {
		t.Errorf("second replica on %s, want n2", got)
	}
	// Without an owner the big empty node wins.
	if got := h.Place(makePod("solo")); got != "n1" {
		t.Errorf("unowned pod on %s, want n1", got)
	}
}

func TestOwnerSpreadAcrossZones(t *testing.T) {
	h := newHarness(t, makeNode("a1", zone("a")), makeNode("a2", zone("a")), makeNode("a3", zone("a")), makeNode("b1", zone("b")))
	first := h.Place(makePod("web-0", ownedBy("rs")))
	second := h.Place(makePod("web-1", ownedBy("rs")))
	if first == second || (first[0] == second[0]) {
		t.Errorf("replicas on %s and %s, want different zones", first, second)
	}
}

func TestLeastAllocated(t *testing.T) {
	h := newHarness(t, makeNode("n1"), makeNode("n2"), makeNode("n3"))
	h.Add(makePod("a", requests("cpu", "2", "memory", "4Gi"), onNode("n1")),
		makePod("b", requests("cpu", "1", "memory", "1Gi"), onNode("n2")),
		makePod("c", requests("cpu", "3", "memory", "6Gi"), onNode("n3")))
	if got := h.Place(makePod("p", requests("cpu", "500m", "memory", "512Mi"))); got != "n2" {
		t.Errorf("placed on %s, want the least allocated n2", got)
	}
}

func TestBalancedAllocation(t *testing.T) {
	// Same free share on average, but n2 would be left lopsided.
	ni1 := NewNodeInfo(makeNode("n1"), NewPodInfo(makePod("a", requests("cpu", "2", "memory", "4Gi"), onNode("n1"))))
	ni2 := NewNodeInfo(makeNode("n2"), NewPodInfo(makePod("b", requests("cpu", "4", "memory", "0"), onNode("n2"))))
	p := NewPodInfo(makePod("p", requests("cpu", "0", "memory", "1Gi")))
	if s1, s2 := (BalancedAllocation{}).Score(p, ni1), (BalancedAllocation{}).Score(p, ni2); s1 <= s2 {
		t.Errorf("balanced score n1=%d n2=%d, want n1 higher", s1, s2)
	}
}

func TestPreferredScores(t *testing.T) {
	cases := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string
	}{
		{
			name:  "preferred node affinity",
			nodes: []*corev1.Node{makeNode("n1"), makeNode("n2", nodeLabels("disk", "ssd"))},
			pod:   makePod("p", preferredNodeAffinity(50, expr("disk", corev1.NodeSelectorOpIn, "ssd"))),
			want:  "n2",
		},
		{
			name:  "heavier preference wins",
			nodes: []*corev1.Node{makeNode("n1", nodeLabels("disk", "ssd")), makeNode("n2", nodeLabels("gpu", "yes"))},
			pod: makePod("p", preferredNodeAffinity(10, expr("disk", corev1.NodeSelectorOpIn, "ssd")),
				preferredNodeAffinity(90, expr("gpu", corev1.NodeSelectorOpExists))),
			want: "n2",
		},
		{
			name:  "PreferNoSchedule is avoided",
			nodes: []*corev1.Node{makeNode("n1", taint("spot", "true", preferNo)), makeNode("n2")},
			pod:   makePod("p"),
			want:  "n2",
		},
		{
			name:  "PreferNoSchedule tolerated is not avoided",
			nodes: []*corev1.Node{makeNode("n1", taint("spot", "true", preferNo)), makeNode("n2", nodeLabels("x", "y"))},
			pod:   makePod("p", toleration("spot", exists, "", preferNo)),
			want:  "n1",
		},
		{
			name:     "preferred pod affinity",
			nodes:    []*corev1.Node{makeNode("n1"), makeNode("n2"), makeNode("n3")},
			existing: []*corev1.Pod{makePod("db", podLabels(appKey, appDB), onNode("n3"))},
			pod:      makePod("p", preferredPodAffinity(100, podTerm(hostname, appKey, appDB))),
			want:     "n3",
		},
		{
			name:     "existing pod's preferred affinity attracts the newcomer",
			nodes:    []*corev1.Node{makeNode("n1"), makeNode("n2")},
			existing: []*corev1.Pod{makePod("cache", preferredPodAffinity(100, podTerm(hostname, appKey, appWeb)), onNode("n2"))},
			pod:      makePod("p", podLabels(appKey, appWeb)),
			want:     "n2",
		},
		{
			name:  "ScheduleAnyway prefers the emptier zone",
			nodes: []*corev1.Node{makeNode("a1", zone("a")), makeNode("a2", zone("a")), makeNode("b1", zone("b"))},
			existing: []*corev1.Pod{
				makePod("w1", podLabels(appKey, appWeb), onNode("a1")),
				makePod("w2", podLabels(appKey, appWeb), onNode("b1")),
				makePod("w3", podLabels(appKey, appWeb), onNode("b1")),
			},
			pod:  makePod("p", podLabels(appKey, appWeb), spread(zoneKey, 1, anyway, appKey, appWeb)),
			want: "a2",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.nodes...).Add(tc.existing...)
			if got := h.Place(tc.pod); got != tc.want {
				t.Errorf("placed on %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDeterministicTieBreakAndRotation(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 5; i++ {
		nodes = append(nodes, makeNode(fmt.Sprintf("n%d", i)))
	}
	snap := NewSnapshot(nodes, nil)
	p := NewPodInfo(makePod("p"))
	for i := 0; i < 3; i++ {
		if d := DefaultProfile().Schedule(p, snap, 0); d.Node != "n0" {
			t.Fatalf("run %d: %s, want n0 every time", i, d.Node)
		}
	}
	// The loop rotates the start so equal nodes take turns.
	if d := DefaultProfile().Schedule(p, snap, 3); d.Node != "n3" {
		t.Errorf("start 3: %s, want n3", d.Node)
	}
}

func TestPercentageOfNodesToScore(t *testing.T) {
	var nodes []*corev1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, makeNode(fmt.Sprintf("n%04d", i)))
	}
	snap := NewSnapshot(nodes, nil)
	prof := DefaultProfile()
	d := prof.Schedule(NewPodInfo(makePod("p")), snap, 990)
	// 1000 nodes: 50% - 8% = 42% → 420 feasible nodes looked for.
	if d.Feasible != 420 || d.Evaluated != 420 {
		t.Errorf("feasible %d evaluated %d, want 420", d.Feasible, d.Evaluated)
	}
	prof.PercentageOfNodesToScore = 100
	if d := prof.Schedule(NewPodInfo(makePod("p")), snap, 0); d.Feasible != 1000 {
		t.Errorf("100%%: feasible %d", d.Feasible)
	}
	// Failures are always reported for every node.
	d = prof.Schedule(NewPodInfo(makePod("p", requests("cpu", "100"))), snap, 0)
	if d.Message() != "0/1000 nodes are available: 1000 Insufficient cpu." {
		t.Errorf("message %q", d.Message())
	}
}
