package scheduler

import (
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func preempt(h *Harness, pod *corev1.Pod) (Decision, Preemption) {
	pi, snap := NewPodInfo(pod), h.Snapshot()
	d := h.Profile.Schedule(pi, snap, 0)
	if d.Scheduled() {
		return d, Preemption{}
	}
	return d, h.Profile.Preempt(pi, snap, &d)
}

func victimNames(pr Preemption) []string {
	var out []string
	for _, v := range pr.Victims {
		out = append(out, v.Name)
	}
	sort.Strings(out)
	return out
}

func TestPreemption(t *testing.T) {
	cases := []struct {
		name        string
		nodes       []*corev1.Node
		existing    []*corev1.Pod
		pod         *corev1.Pod
		wantNode    string
		wantVictims []string
		wantMsg     string
	}{
		{
			name:  "evicts the node with the lowest priority victims",
			nodes: []*corev1.Node{makeNode("n1"), makeNode("n2")},
			existing: []*corev1.Pod{
				makePod("a", requests("cpu", "4"), priority(100), onNode("n1")),
				makePod("b", requests("cpu", "4"), priority(10), onNode("n2")),
			},
			pod:         makePod("p", requests("cpu", "2"), priority(1000)),
			wantNode:    "n2",
			wantVictims: []string{"b"},
		},
		{
			name:  "minimal victims: pods not in the way are reprieved",
			nodes: []*corev1.Node{makeNode("n1")},
			existing: []*corev1.Pod{
				makePod("a", requests("cpu", "1"), priority(10), onNode("n1")),
				makePod("b", requests("cpu", "1"), priority(20), onNode("n1")),
				makePod("c", requests("cpu", "2"), priority(5), onNode("n1")),
			},
			pod:         makePod("p", requests("cpu", "2"), priority(1000)),
			wantNode:    "n1",
			wantVictims: []string{"c"},
		},
		{
			name:  "fewer victims at equal priority",
			nodes: []*corev1.Node{makeNode("n1"), makeNode("n2")},
			existing: []*corev1.Pod{
				makePod("a1", requests("cpu", "2"), priority(10), onNode("n1")),
				makePod("a2", requests("cpu", "2"), priority(10), onNode("n1")),
				makePod("b", requests("cpu", "4"), priority(10), onNode("n2")),
			},
			pod:         makePod("p", requests("cpu", "4"), priority(1000)),
			wantNode:    "n2",
			wantVictims: []string{"b"},
		},
		{
			name:  "higher or equal priority pods are never victims",
			nodes: []*corev1.Node{makeNode("n1")},
			existing: []*corev1.Pod{
				makePod("a", requests("cpu", "4"), priority(1000), onNode("n1")),
			},
			pod:     makePod("p", requests("cpu", "1"), priority(1000)),
			wantMsg: "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:  "taints cannot be preempted away",
			nodes: []*corev1.Node{makeNode("n1", taint("k", "v", noSched)), makeNode("n2")},
			existing: []*corev1.Pod{
				makePod("a", requests("cpu", "4"), priority(1000), onNode("n2")),
				makePod("b", requests("cpu", "4"), priority(1), onNode("n1")),
			},
			pod:     makePod("p", requests("cpu", "1"), priority(100)),
			wantMsg: "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {k: v}. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "evicting the pod holding the port",
			nodes: []*corev1.Node{makeNode("n1")},
			existing: []*corev1.Pod{
				makePod("a", hostPort(80, tcp, anyIP), priority(1), onNode("n1")),
				makePod("b", priority(1), onNode("n1")),
			},
			pod:         makePod("p", hostPort(80, tcp, anyIP), priority(100)),
			wantNode:    "n1",
			wantVictims: []string{"a"},
		},
		{
			name:  "evicting a pod whose anti-affinity repels the preemptor",
			nodes: []*corev1.Node{makeNode("n1", zone("a"))},
			existing: []*corev1.Pod{
				makePod("a", podAntiAffinity(podTerm(zoneKey, appKey, appWeb)), priority(1), onNode("n1")),
				makePod("b", priority(1), onNode("n1")),
			},
			pod:         makePod("p", podLabels(appKey, appWeb), priority(100)),
			wantNode:    "n1",
			wantVictims: []string{"a"},
		},
		{
			name:  "preemptionPolicy Never",
			nodes: []*corev1.Node{makeNode("n1")},
			existing: []*corev1.Pod{
				makePod("a", requests("cpu", "4"), priority(1), onNode("n1")),
			},
			pod: func() *corev1.Pod {
				p := makePod("p", requests("cpu", "1"), priority(100))
				never := corev1.PreemptNever
				p.Spec.PreemptionPolicy = &never
				return p
			}(),
			wantMsg: "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.nodes...).Add(tc.existing...)
			d, pr := preempt(h, tc.pod)
			if d.Scheduled() {
				t.Fatalf("pod fits on %s without preemption", d.Node)
			}
			if pr.Node != tc.wantNode {
				t.Fatalf("preemption node %q, want %q (%s)", pr.Node, tc.wantNode, pr.Message)
			}
			if got := victimNames(pr); tc.wantNode != "" && !equalStrings(got, tc.wantVictims) {
				t.Errorf("victims %v, want %v", got, tc.wantVictims)
			}
			if tc.wantNode == "" {
				d.PostFilterMsg = pr.Message
				if d.Message() != tc.wantMsg {
					t.Errorf("message:\n got %q\nwant %q", d.Message(), tc.wantMsg)
				}
			}
			// After the victims are gone, the pod fits where preemption said.
			if tc.wantNode != "" {
				var keep []*corev1.Pod
				for _, p := range h.Pods {
					if !contains(tc.wantVictims, p.Name) {
						keep = append(keep, p)
					}
				}
				h.Pods = keep
				if got := h.Place(tc.pod); got != tc.wantNode {
					t.Errorf("after eviction placed on %s, want %s", got, tc.wantNode)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// The room preemption freed for a nominated pod is not given to pods of
// lower priority, is given to pods of higher priority, and the nominated
// pod itself fits there.
func TestNominatedPodsKeepTheirRoom(t *testing.T) {
	nodes := []*corev1.Node{makeNode("n1")}
	existing := []*corev1.Pod{makePod("a", requests("cpu", "1"), priority(10), onNode("n1"))}
	nominee := makePod("nominee", requests("cpu", "2"), priority(100))
	snap := NewSnapshot(nodes, existing)
	snap.Nominate(nominee, "n1")

	lower := DefaultProfile().Schedule(NewPodInfo(makePod("low", requests("cpu", "2"), priority(50))), snap, 0)
	if lower.Scheduled() {
		t.Errorf("a lower-priority pod took the nominated room on %s", lower.Node)
	} else if !strings.Contains(lower.Message(), "Insufficient cpu") {
		t.Errorf("message %q, want Insufficient cpu", lower.Message())
	}
	equal := DefaultProfile().Schedule(NewPodInfo(makePod("peer", requests("cpu", "2"), priority(100))), snap, 0)
	if equal.Scheduled() {
		t.Errorf("an equal-priority pod took the nominated room on %s", equal.Node)
	}
	if d := DefaultProfile().Schedule(NewPodInfo(makePod("high", requests("cpu", "2"), priority(1000))), snap, 0); d.Node != "n1" {
		t.Errorf("a higher-priority pod went to %q, want n1: %s", d.Node, d.Message())
	}
	if d := DefaultProfile().Schedule(NewPodInfo(nominee), snap, 0); d.Node != "n1" {
		t.Errorf("the nominee went to %q, want n1: %s", d.Node, d.Message())
	}
	// Small pods still fit beside it.
	if d := DefaultProfile().Schedule(NewPodInfo(makePod("small", requests("cpu", "0.5"), priority(0))), snap, 0); d.Node != "n1" {
		t.Errorf("a pod that fits beside the nominee went to %q: %s", d.Node, d.Message())
	}
}
