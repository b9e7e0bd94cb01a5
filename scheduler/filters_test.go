package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const (
	noSched   = corev1.TaintEffectNoSchedule
	noExec    = corev1.TaintEffectNoExecute
	preferNo  = corev1.TaintEffectPreferNoSchedule
	hostname  = corev1.LabelHostname
	zoneKey   = corev1.LabelTopologyZone
	exists    = corev1.TolerationOpExists
	equal     = corev1.TolerationOpEqual
	doNotSch  = corev1.DoNotSchedule
	anyway    = corev1.ScheduleAnyway
	tcp       = corev1.ProtocolTCP
	udp       = corev1.ProtocolUDP
	gpu       = "nvidia.com/gpu"
	appWeb    = "web"
	appDB     = "db"
	appKey    = "app"
	anyIP     = ""
	specialIP = "10.0.0.1"
)

func TestFilters(t *testing.T) {
	n1, n2, n3 := "n1", "n2", "n3"
	cases := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     string // chosen node, or "" for failure
		wantMsg  string // checked on failure
	}{
		{
			name:  "fits: first node by name on a tie",
			nodes: []*corev1.Node{makeNode(n2), makeNode(n1)},
			pod:   makePod("p", requests("cpu", "1")),
			want:  n1,
		},
		{
			name:     "insufficient cpu counts requests of bound pods",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2)},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "3"), onNode(n1)), makePod("b", requests("cpu", "3500m"), onNode(n2))},
			pod:      makePod("p", requests("cpu", "1500m")),
			wantMsg:  "0/2 nodes are available: 2 Insufficient cpu.",
		},
		{
			name:     "every lacking resource is reported",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "3", "memory", "7Gi"), onNode(n1))},
			pod:      makePod("p", requests("cpu", "2", "memory", "2Gi")),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.",
		},
		{
			name:     "too many pods",
			nodes:    []*corev1.Node{makeNode(n1, allocatable("pods", "1"))},
			existing: []*corev1.Pod{makePod("a", onNode(n1))},
			pod:      makePod("p"),
			wantMsg:  "0/1 nodes are available: 1 Too many pods.",
		},
		{
			name:  "extended resource goes to the gpu node",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2, allocatable(gpu, "2"))},
			pod:   makePod("p", requests(gpu, "2")),
			want:  n2,
		},
		{
			name:     "extended resource exhausted",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2, allocatable(gpu, "2"))},
			existing: []*corev1.Pod{makePod("a", requests(gpu, "1"), onNode(n2))},
			pod:      makePod("p", requests(gpu, "2")),
			wantMsg:  "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
		},
		{
			name:    "ephemeral storage",
			nodes:   []*corev1.Node{makeNode(n1)},
			pod:     makePod("p", requests("ephemeral-storage", "200Gi")),
			wantMsg: "0/1 nodes are available: 1 Insufficient ephemeral-storage.",
		},
		{
			name:     "init container max rule: the larger init request counts",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "2"), onNode(n1))},
			pod:      makePod("p", requests("cpu", "1"), initContainer(false, "cpu", "3")),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:     "init container max rule: sequential inits do not add up",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "2"), onNode(n1))},
			pod:      makePod("p", requests("cpu", "1"), initContainer(false, "cpu", "2"), initContainer(false, "cpu", "2")),
			want:     n1,
		},
		{
			name:     "sidecars add to the app containers",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "2"), onNode(n1))},
			pod:      makePod("p", requests("cpu", "1500m"), initContainer(true, "cpu", "1")),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:    "cordoned node",
			nodes:   []*corev1.Node{makeNode(n1, cordoned)},
			pod:     makePod("p"),
			wantMsg: "0/1 nodes are available: 1 node(s) were unschedulable.",
		},
		{
			name:  "cordon tolerated",
			nodes: []*corev1.Node{makeNode(n1, cordoned)},
			pod:   makePod("p", toleration(corev1.TaintNodeUnschedulable, exists, "", noSched)),
			want:  n1,
		},
		{
			name:    "preset nodeName",
			nodes:   []*corev1.Node{makeNode(n1), makeNode(n2)},
			pod:     makePod("p", onNode("n9")),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match the requested node name.",
		},
		{
			name:  "node selector",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2, nodeLabels("disk", "ssd"))},
			pod:   makePod("p", nodeSelector("disk", "ssd")),
			want:  n2,
		},
		{
			name:    "node selector matches nothing",
			nodes:   []*corev1.Node{makeNode(n1), makeNode(n2)},
			pod:     makePod("p", nodeSelector("disk", "ssd")),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
		},
		{
			name:  "affinity In",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("b"))},
			pod:   makePod("p", requiredNodeAffinity(expr(zoneKey, corev1.NodeSelectorOpIn, "b", "c"))),
			want:  n2,
		},
		{
			name:  "affinity NotIn",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("b"))},
			pod:   makePod("p", requiredNodeAffinity(expr(zoneKey, corev1.NodeSelectorOpNotIn, "a"))),
			want:  n2,
		},
		{
			name:  "affinity Exists",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2, nodeLabels("gpu", "yes"))},
			pod:   makePod("p", requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpExists))),
			want:  n2,
		},
		{
			name:  "affinity DoesNotExist",
			nodes: []*corev1.Node{makeNode(n1, nodeLabels("gpu", "yes")), makeNode(n2)},
			pod:   makePod("p", requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))),
			want:  n2,
		},
		{
			name:  "affinity Gt",
			nodes: []*corev1.Node{makeNode(n1, nodeLabels("cores", "8")), makeNode(n2, nodeLabels("cores", "64"))},
			pod:   makePod("p", requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpGt, "16"))),
			want:  n2,
		},
		{
			name:  "affinity Lt",
			nodes: []*corev1.Node{makeNode(n1, nodeLabels("cores", "64")), makeNode(n2, nodeLabels("cores", "8"))},
			pod:   makePod("p", requiredNodeAffinity(expr("cores", corev1.NodeSelectorOpLt, "16"))),
			want:  n2,
		},
		{
			name:  "terms are ORed",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2, zone("b"))},
			pod:   makePod("p", requiredNodeAffinity(expr("gpu", corev1.NodeSelectorOpExists), expr(zoneKey, corev1.NodeSelectorOpIn, "b"))),
			want:  n2,
		},
		{
			name:  "matchFields metadata.name, as DaemonSets pin pods",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2)},
			pod: makePod("p", requiredNodeAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n2}}}})),
			want: n2,
		},
		{
			name:    "untolerated taint",
			nodes:   []*corev1.Node{makeNode(n1, taint("dedicated", "gpu", noSched))},
			pod:     makePod("p"),
			wantMsg: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.",
		},
		{
			name:    "NoExecute taint filters too",
			nodes:   []*corev1.Node{makeNode(n1, taint(corev1.TaintNodeNotReady, "", noExec))},
			pod:     makePod("p"),
			wantMsg: "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.",
		},
		{
			name:  "tolerated with Equal",
			nodes: []*corev1.Node{makeNode(n1, taint("dedicated", "gpu", noSched))},
			pod:   makePod("p", toleration("dedicated", equal, "gpu", noSched)),
			want:  n1,
		},
		{
			name:    "Equal with the wrong value does not tolerate",
			nodes:   []*corev1.Node{makeNode(n1, taint("dedicated", "gpu", noSched))},
			pod:     makePod("p", toleration("dedicated", equal, "cpu", noSched)),
			wantMsg: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.",
		},
		{
			name:  "Exists with empty key tolerates everything",
			nodes: []*corev1.Node{makeNode(n1, taint("a", "b", noSched), taint("c", "d", noExec))},
			pod:   makePod("p", toleration("", exists, "", "")),
			want:  n1,
		},
		{
			name:  "PreferNoSchedule does not filter",
			nodes: []*corev1.Node{makeNode(n1, taint("a", "b", preferNo))},
			pod:   makePod("p"),
			want:  n1,
		},
		{
			name:     "host port taken",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2)},
			existing: []*corev1.Pod{makePod("a", hostPort(80, tcp, anyIP), onNode(n1))},
			pod:      makePod("p", hostPort(80, tcp, anyIP)),
			want:     n2,
		},
		{
			name:     "host port taken everywhere",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", hostPort(80, tcp, specialIP), onNode(n1))},
			pod:      makePod("p", hostPort(80, tcp, anyIP)),
			wantMsg:  "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
		},
		{
			name:     "host port: another protocol or address does not conflict",
			nodes:    []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{makePod("a", hostPort(53, udp, anyIP), hostPort(80, tcp, specialIP), onNode(n1))},
			pod:      makePod("p", hostPort(53, tcp, anyIP), hostPort(80, tcp, "10.0.0.2")),
			want:     n1,
		},
		{
			name:     "pod anti-affinity by hostname",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2)},
			existing: []*corev1.Pod{makePod("a", podLabels(appKey, appWeb), onNode(n1))},
			pod:      makePod("p", podLabels(appKey, appWeb), podAntiAffinity(podTerm(hostname, appKey, appWeb))),
			want:     n2,
		},
		{
			name:     "pod anti-affinity by zone",
			nodes:    []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("a")), makeNode(n3, zone("b"))},
			existing: []*corev1.Pod{makePod("a", podLabels(appKey, appWeb), onNode(n1))},
			pod:      makePod("p", podAntiAffinity(podTerm(zoneKey, appKey, appWeb))),
			want:     n3,
		},
		{
			name:     "pod anti-affinity unsatisfiable",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2)},
			existing: []*corev1.Pod{makePod("a", podLabels(appKey, appWeb), onNode(n1)), makePod("b", podLabels(appKey, appWeb), onNode(n2))},
			pod:      makePod("p", podAntiAffinity(podTerm(hostname, appKey, appWeb))),
			wantMsg:  "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.",
		},
		{
			name:  "anti-affinity only sees its own namespace by default",
			nodes: []*corev1.Node{makeNode(n1)},
			existing: []*corev1.Pod{func() *corev1.Pod {
				p := makePod("a", podLabels(appKey, appWeb), onNode(n1))
				p.Namespace = "other"
				return p
			}()},
			pod:  makePod("p", podAntiAffinity(podTerm(hostname, appKey, appWeb))),
			want: n1,
		},
		{
			name:     "existing pod's anti-affinity repels the newcomer",
			nodes:    []*corev1.Node{makeNode(n1), makeNode(n2)},
			existing: []*corev1.Pod{makePod("a", podAntiAffinity(podTerm(hostname, appKey, appWeb)), onNode(n1))},
			pod:      makePod("p", podLabels(appKey, appWeb)),
			want:     n2,
		},
		{
			name:     "existing pods' anti-affinity everywhere",
			nodes:    []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("a"))},
			existing: []*corev1.Pod{makePod("a", podAntiAffinity(podTerm(zoneKey, appKey, appWeb)), onNode(n1))},
			pod:      makePod("p", podLabels(appKey, appWeb)),
			wantMsg:  "0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules.",
		},
		{
			name:     "pod affinity follows the peer's zone",
			nodes:    []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("b")), makeNode(n3, zone("b"))},
			existing: []*corev1.Pod{makePod("db", podLabels(appKey, appDB), onNode(n3))},
			pod:      makePod("p", podAffinity(podTerm(zoneKey, appKey, appDB))),
			want:     n2,
		},
		{
			name:    "pod affinity with no peer anywhere",
			nodes:   []*corev1.Node{makeNode(n1), makeNode(n2)},
			pod:     makePod("p", podAffinity(podTerm(hostname, appKey, appDB))),
			wantMsg: "0/2 nodes are available: 2 node(s) didn't match pod affinity rules.",
		},
		{
			name:  "the first pod of a self-affine group goes anywhere",
			nodes: []*corev1.Node{makeNode(n1), makeNode(n2)},
			pod:   makePod("p", podLabels(appKey, appWeb), podAffinity(podTerm(hostname, appKey, appWeb))),
			want:  n1,
		},
		{
			name:  "spread DoNotSchedule picks the emptier zone",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("b"))},
			existing: []*corev1.Pod{
				makePod("a", podLabels(appKey, appWeb), onNode(n1)),
			},
			pod:  makePod("p", podLabels(appKey, appWeb), spread(zoneKey, 1, doNotSch, appKey, appWeb)),
			want: n2,
		},
		{
			name:  "spread DoNotSchedule: skew within maxSkew is allowed",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2, zone("b"), taint("x", "y", noSched))},
			existing: []*corev1.Pod{
				makePod("a", podLabels(appKey, appWeb), onNode(n1)),
			},
			pod:  makePod("p", podLabels(appKey, appWeb), spread(zoneKey, 2, doNotSch, appKey, appWeb)),
			want: n1,
		},
		{
			name:  "spread DoNotSchedule: nodes without the key are excluded",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2), makeNode(n3, zone("b"))},
			existing: []*corev1.Pod{
				makePod("a", podLabels(appKey, appWeb), onNode(n3)),
			},
			pod:     makePod("p", podLabels(appKey, appWeb), spread(zoneKey, 1, doNotSch, appKey, appWeb), nodeSelector("x", "y")),
			wantMsg: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
		},
		{
			name:  "spread DoNotSchedule: unsatisfiable skew and missing label",
			nodes: []*corev1.Node{makeNode(n1, zone("a")), makeNode(n2), makeNode(n3, zone("b"), cordoned)},
			existing: []*corev1.Pod{
				makePod("a", podLabels(appKey, appWeb), onNode(n1)),
			},
			pod:     makePod("p", podLabels(appKey, appWeb), spread(zoneKey, 1, doNotSch, appKey, appWeb)),
			wantMsg: "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label), 1 node(s) were unschedulable.",
		},
		{
			name: "message aggregation across filters",
			nodes: []*corev1.Node{
				makeNode(n1), makeNode(n2), makeNode(n3, taint("key", "value", noSched)),
			},
			existing: []*corev1.Pod{makePod("a", requests("cpu", "4"), onNode(n1)), makePod("b", requests("cpu", "4"), onNode(n2))},
			pod:      makePod("p", requests("cpu", "1")),
			wantMsg:  "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu.",
		},
		{
			name:    "no nodes",
			pod:     makePod("p"),
			wantMsg: "no nodes available to schedule pods",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.nodes...).Add(tc.existing...)
			d := h.Schedule(tc.pod)
			if d.Node != tc.want {
				t.Fatalf("node = %q, want %q (%s)", d.Node, tc.want, d.Message())
			}
			if tc.want == "" && d.Message() != tc.wantMsg {
				t.Errorf("message:\n got %q\nwant %q", d.Message(), tc.wantMsg)
			}
			// The package-level function is the same pure decision.
			if d2 := Schedule(tc.pod, h.Snapshot()); d2.Node != d.Node || d2.Message() != d.Message() {
				t.Errorf("Schedule differs: %q %q", d2.Node, d2.Message())
			}
		})
	}
}

func TestFilterCodes(t *testing.T) {
	// Codes decide whether preemption may try a node.
	ni := NewNodeInfo(makeNode("n1"), NewPodInfo(makePod("a", requests("cpu", "3"), onNode("n1"))))
	if st := (NodeResourcesFit{}).Filter(NewPodInfo(makePod("p", requests("cpu", "2"))), ni); st == nil || st.Code != Unschedulable {
		t.Errorf("fits after eviction should be Unschedulable, got %+v", st)
	}
	if st := (NodeResourcesFit{}).Filter(NewPodInfo(makePod("p", requests("cpu", "5"))), ni); st == nil || st.Code != UnschedulableAndUnresolvable {
		t.Errorf("larger than the node should be unresolvable, got %+v", st)
	}
	if st := (TaintToleration{}).Filter(NewPodInfo(makePod("p")), NewNodeInfo(makeNode("n", taint("a", "b", noSched)))); st == nil || st.Code != UnschedulableAndUnresolvable {
		t.Errorf("taint should be unresolvable, got %+v", st)
	}
	// Filters used alone (without the framework's PreFilter) still work.
	web := NewPodInfo(makePod("a", podLabels(appKey, appWeb), onNode("n1")))
	anti := NewPodInfo(makePod("p", podAntiAffinity(podTerm(hostname, appKey, appWeb))))
	if st := (InterPodAffinity{}).Filter(anti, NewNodeInfo(makeNode("n1"), web)); st == nil {
		t.Error("anti-affinity not enforced by the standalone filter")
	}
}

func TestPodRequests(t *testing.T) {
	p := makePod("p", requests("cpu", "1", "memory", "1Gi"), initContainer(true, "cpu", "500m"), initContainer(false, "cpu", "2", "memory", "3Gi"))
	p.Spec.Overhead = corev1.ResourceList{"cpu": mustQ("100m")}
	pi := NewPodInfo(p)
	// max(app 1 + sidecar 0.5, init 2 + sidecar 0.5) + overhead 0.1
	if pi.Requests.MilliCPU != 2600 {
		t.Errorf("cpu = %dm, want 2600m", pi.Requests.MilliCPU)
	}
	if pi.Requests.Memory != 3<<30 {
		t.Errorf("memory = %d, want 3Gi", pi.Requests.Memory)
	}
	be := NewPodInfo(makePod("be"))
	if be.NonZeroCPU != defaultMilliCPURequest || be.NonZeroMem != defaultMemoryRequest || be.Requests.MilliCPU != 0 {
		t.Errorf("best effort: %+v", be)
	}
}
