package nodelifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics/testutil"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	ctx    context.Context
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	inf    informers.SharedInformerFactory
	c      *Controller
	events *record.FakeRecorder
}

func newFixture(t *testing.T, opts Options, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: clocktesting.NewFakeClock(t0)}
	f.client = fake.NewClientset(objs...)
	f.inf = informers.NewSharedInformerFactory(f.client, 0)
	f.c = NewController(f.client, f.inf.Core().V1().Nodes(), f.inf.Coordination().V1().Leases(), f.inf.Core().V1().Pods(), opts, f.clock)
	f.c.synced = func() bool { return true }
	f.events = record.NewFakeRecorder(1000)
	f.c.recorder = f.events
	for _, o := range objs {
		switch x := o.(type) {
		case *corev1.Node:
			_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Add(x)
		case *corev1.Pod:
			_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Add(x)
		case *coordinationv1.Lease:
			_ = f.inf.Coordination().V1().Leases().Informer().GetIndexer().Add(x)
		}
	}
	return f
}

func node(name, zone string, ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.NewTime(t0.Add(-time.Hour))},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(t0.Add(-time.Hour))},
		}}}
	if zone != "" {
		n.Labels[corev1.LabelTopologyZone] = zone
	}
	return n
}

func lease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: LeaseNamespace},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](10),
			RenewTime: ptr.To(metav1.NewMicroTime(renew))}}
}

func pod(name, nodeName string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: nodeName, Tolerations: tolerations}}
}

// cluster returns Ready nodes named prefix0..n-1 in zone, with leases.
func cluster(prefix, zone string, n int) []runtime.Object {
	var out []runtime.Object
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		out = append(out, node(name, zone, corev1.ConditionTrue), lease(name, t0.Add(-time.Hour)))
	}
	return out
}

// renew renews the named nodes' leases now, as their agents would.
func (f *fixture) renew(names ...string) {
	for _, n := range names {
		_ = f.inf.Coordination().V1().Leases().Informer().GetIndexer().Update(lease(n, f.clock.Now()))
	}
}

// step advances the clock, renewing the live nodes, and runs a pass.
func (f *fixture) step(d time.Duration, live ...string) []string {
	f.clock.Step(d)
	f.renew(live...)
	return f.pass()
}

// pass runs one monitor pass, works off the node queue, copies the
// results back into the cache and returns the writes.
func (f *fixture) pass() []string {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.monitor(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	for f.c.nodeQueue.Len() > 0 {
		k, _ := f.c.nodeQueue.Get()
		if err := f.c.syncNode(f.ctx, k); err != nil {
			f.t.Fatal(err)
		}
		f.c.nodeQueue.Done(k)
	}
	out := writes(f.client.Actions())
	nodes, _ := f.client.CoreV1().Nodes().List(f.ctx, metav1.ListOptions{})
	for i := range nodes.Items {
		_ = f.inf.Core().V1().Nodes().Informer().GetIndexer().Update(&nodes.Items[i])
	}
	return out
}

// evictions runs the eviction sync of a node and returns deleted pods.
func (f *fixture) evictions(name string) []string {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.syncEvictions(f.ctx, name); err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			name := a.(core.DeleteAction).GetName()
			out = append(out, name)
			obj, _, _ := f.inf.Core().V1().Pods().Informer().GetIndexer().GetByKey("default/" + name)
			_ = f.inf.Core().V1().Pods().Informer().GetIndexer().Delete(obj)
		}
	}
	sort.Strings(out)
	return out
}

func writes(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		switch a.GetVerb() {
		case "update", "patch", "delete", "create":
			s := a.GetVerb() + " " + a.GetResource().Resource
			if a.GetSubresource() != "" {
				s += "/" + a.GetSubresource()
			}
			out = append(out, s)
		}
	}
	return out
}

func (f *fixture) node(name string) *corev1.Node {
	n, err := f.client.CoreV1().Nodes().Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func taintsOf(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

var (
	unreachableTaints = []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}
	notReadyTaints    = []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}
)

func TestStaleLeaseThenRenewal(t *testing.T) {
	f := newFixture(t, DefaultOptions(), cluster("n", "", 3)...)
	live := []string{"n0", "n1"}
	if w := f.pass(); len(w) != 0 {
		t.Fatalf("first pass wrote %v", w)
	}
	f.step(time.Second, append(live, "n2")...) // n2 was alive once, then dies
	for i := 0; i < 5; i++ {
		if w := f.step(time.Second, live...); len(w) != 0 {
			t.Fatalf("within grace: wrote %v", w)
		}
	}
	w := f.step(time.Second, live...) // 6 s since n2's last renewal
	if !equal(w, []string{"update nodes/status", "update nodes"}) {
		t.Fatalf("writes %v", w)
	}
	n := f.node("n2")
	for _, c := range n.Status.Conditions {
		if c.Status != corev1.ConditionUnknown || c.Reason != reasonUnknown || c.Message != messageUnknown {
			t.Fatalf("condition %s = %s/%s", c.Type, c.Status, c.Reason)
		}
		if !c.LastHeartbeatTime.Time.Equal(t0.Add(-time.Hour)) {
			t.Fatalf("heartbeat changed to %v", c.LastHeartbeatTime)
		}
	}
	if got := taintsOf(n); !equal(got, unreachableTaints) {
		t.Fatalf("taints %v", got)
	}
	if w := f.step(time.Second, live...); len(w) != 0 {
		t.Fatalf("steady dead node: wrote %v", w)
	}
	// The agent is back: the lease is renewed, taints go.
	w = f.step(time.Second, "n0", "n1", "n2")
	if !equal(w, []string{"update nodes"}) || len(f.node("n2").Spec.Taints) != 0 {
		t.Fatalf("writes %v, taints %v", w, f.node("n2").Spec.Taints)
	}
}

func TestAgentReportsNotReady(t *testing.T) {
	objs := cluster("n", "", 3)
	objs[0].(*corev1.Node).Status.Conditions[0].Status = corev1.ConditionFalse
	f := newFixture(t, DefaultOptions(), objs...)
	f.pass()
	f.step(time.Second, "n0", "n1", "n2")
	if got := taintsOf(f.node("n0")); !equal(got, notReadyTaints) {
		t.Fatalf("taints %v", got)
	}
	// It dies: not-ready swaps to unreachable.
	for i := 0; i < 6; i++ {
		f.step(time.Second, "n1", "n2")
	}
	if got := taintsOf(f.node("n0")); !equal(got, unreachableTaints) {
		t.Fatalf("taints %v", got)
	}
}

func TestEvictionAfterToleration(t *testing.T) {
	objs := cluster("n", "", 3)
	until := func(sec int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(sec)}
	}
	terminating := pod("terminating", "n2")
	terminating.DeletionTimestamp = ptr.To(metav1.NewTime(t0))
	objs = append(objs,
		pod("default-toleration", "n2"),
		pod("ten-seconds", "n2", until(10)),
		pod("forever", "n2", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}),
		pod("tolerates-everything", "n2", corev1.Toleration{Operator: corev1.TolerationOpExists}),
		// No toleration for unreachable, so the default applies to it.
		pod("not-ready-only", "n2", corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute}),
		pod("other-node", "n0"),
		terminating)
	f := newFixture(t, DefaultOptions(), objs...)
	f.pass()
	f.step(time.Second, "n0", "n1", "n2")
	for i := 0; i < 6; i++ {
		f.step(time.Second, "n0", "n1")
	}
	if got := taintsOf(f.node("n2")); !equal(got, unreachableTaints) {
		t.Fatalf("taints %v", got)
	}
	if got := f.evictions("n2"); len(got) != 0 {
		t.Fatalf("evicted at once: %v", got)
	}
	f.clock.Step(1999 * time.Millisecond)
	if got := f.evictions("n2"); len(got) != 0 {
		t.Fatalf("evicted early: %v", got)
	}
	f.clock.Step(time.Millisecond)
	if got := f.evictions("n2"); !equal(got, []string{"default-toleration", "not-ready-only"}) {
		t.Fatalf("evicted %v", got)
	}
	f.clock.Step(8 * time.Second)
	if got := f.evictions("n2"); !equal(got, []string{"ten-seconds"}) {
		t.Fatalf("evicted %v", got)
	}
	f.clock.Step(time.Hour)
	if got := f.evictions("n2"); len(got) != 0 {
		t.Fatalf("evicted pods that tolerate forever: %v", got)
	}
}

func TestUntoleratedUserTaintEvictsAtOnce(t *testing.T) {
	objs := cluster("n", "", 2)
	objs[0].(*corev1.Node).Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}}
	objs = append(objs, pod("web", "n0"), pod("db", "n0", corev1.Toleration{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoExecute}))
	f := newFixture(t, DefaultOptions(), objs...)
	before, _ := testutil.GetCounterMetricValue(podDeletions)
	if got := f.evictions("n0"); !equal(got, []string{"web"}) {
		t.Fatalf("evicted %v", got)
	}
	if after, _ := testutil.GetCounterMetricValue(podDeletions); after != before+1 {
		t.Errorf("taint_eviction_controller_pod_deletions_total went from %v to %v, want one more", before, after)
	}
	// Marked as a disruption first, for Jobs' podFailurePolicy.
	if got := strings.Join(writes(f.client.Actions()), ","); got != "patch pods/status,delete pods" {
		t.Errorf("writes %s, want the DisruptionTarget patch, then the delete", got)
	}
	for _, a := range f.client.Actions() {
		if p, ok := a.(core.PatchAction); ok && !strings.Contains(string(p.GetPatch()), `"reason":"DeletionByTaintManager"`) {
			t.Errorf("patch %s", p.GetPatch())
		}
	}
}

func TestFullDisruptionStopsEviction(t *testing.T) {
	objs := append(cluster("a", "zone-a", 4), cluster("b", "zone-b", 2)...)
	objs = append(objs, pod("p", "a0"))
	f := newFixture(t, DefaultOptions(), objs...)
	all := []string{"a0", "a1", "a2", "a3", "b0", "b1"}
	f.pass()
	f.step(time.Second, all...)
	// a0 dies alone: 25 % of zone-a, evicted normally.
	for i := 0; i < 6; i++ {
		f.step(time.Second, "a1", "a2", "a3", "b0", "b1")
	}
	if got := taintsOf(f.node("a0")); !equal(got, unreachableTaints) {
		t.Fatalf("a0 taints %v", got)
	}
	f.evictions("a0")
	// Then a1 and a2 stop renewing too (75 %): a network blip, not three
	// dead machines. NoExecute taints are withheld and a0's is removed.
	f.step(time.Second, "a3", "b0", "b1")
	for i := 0; i < 6; i++ {
		f.step(time.Second, "a3", "b0", "b1")
	}
	for _, n := range []string{"a0", "a1", "a2"} {
		if got := taintsOf(f.node(n)); !equal(got, []string{"node.kubernetes.io/unreachable:NoSchedule"}) {
			t.Fatalf("%s taints %v", n, got)
		}
		if rc := readyCondition(f.node(n)); rc.Status != corev1.ConditionUnknown {
			t.Fatalf("%s Ready=%s", n, rc.Status)
		}
	}
	// zone-b is judged on its own: b1 dies there, 50 % is no disruption.
	for i := 0; i < 6; i++ {
		f.step(time.Second, "a3", "b0")
		if got := f.evictions("a0"); len(got) != 0 {
			t.Fatalf("evicted in a disrupted zone: %v", got)
		}
	}
	if got := taintsOf(f.node("b1")); !equal(got, unreachableTaints) {
		t.Fatalf("b1 taints %v", got)
	}
	// The blip ends for a1 and a2: the zone leaves disruption and a0, still
	// silent, gets a fresh grace period before it is tainted again.
	w := f.step(time.Second, "a1", "a2", "a3", "b0")
	if got := taintsOf(f.node("a1")); len(got) != 0 {
		t.Fatalf("a1 taints %v after renewal (writes %v)", got, w)
	}
	if got := taintsOf(f.node("a0")); len(got) != 0 {
		t.Fatalf("a0 taints %v right after the zone recovered", got)
	}
	for i := 0; i < 6; i++ {
		f.step(time.Second, "a1", "a2", "a3", "b0")
	}
	if got := taintsOf(f.node("a0")); !equal(got, unreachableTaints) {
		t.Fatalf("a0 taints %v", got)
	}
}

func TestStartupGrace(t *testing.T) {
	// A control-plane restart: every lease is an hour old; n2 still carries
	// the taints of the previous instance and really is dead.
	objs := cluster("n", "", 3)
	objs[4].(*corev1.Node).Spec.Taints = []corev1.Taint{
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
	objs = append(objs, pod("p", "n2"))
	f := newFixture(t, DefaultOptions(), objs...)
	if w := f.pass(); len(w) != 0 {
		t.Fatalf("judged stale leases at start: %v", w)
	}
	f.clock.Step(4 * time.Second)
	if got := f.evictions("n2"); len(got) != 0 {
		t.Fatalf("evicted on an inherited taint before judging: %v", got)
	}
	// n0 and n1 renew late (agents backing off after the outage).
	for i := 0; i < 1; i++ {
		if w := f.step(time.Second, "n0", "n1"); len(w) != 0 {
			t.Fatalf("wrote %v within the start-up grace", w)
		}
	}
	w := f.step(time.Second, "n0", "n1") // 6 s
	if !equal(w, []string{"update nodes/status"}) {
		t.Fatalf("writes %v", w)
	}
	if got := f.evictions("n2"); !equal(got, []string{"p"}) {
		t.Fatalf("evicted %v", got)
	}
	for _, n := range []string{"n0", "n1"} {
		if got := taintsOf(f.node(n)); len(got) != 0 {
			t.Fatalf("%s tainted: %v", n, got)
		}
	}
}

func TestNodeWithoutLeaseGetsStartupGrace(t *testing.T) {
	objs := cluster("n", "", 2)
	f := newFixture(t, DefaultOptions(), append(objs, node("new", "", corev1.ConditionTrue))...)
	f.pass()
	for i := 0; i < 15; i++ {
		if w := f.step(time.Second, "n0", "n1"); len(w) != 0 {
			t.Fatalf("after %ds wrote %v", i+1, w)
		}
	}
	if w := f.step(time.Second, "n0", "n1"); !equal(w, []string{"update nodes/status", "update nodes"}) {
		t.Fatalf("writes %v", w)
	}
}

func TestEvictionRateLimit(t *testing.T) {
	opts := DefaultOptions()
	opts.EvictionRate, opts.EvictionBurst = 1, 1
	f := newFixture(t, opts, cluster("n", "", 10)...)
	var live, all []string
	for i := 0; i < 10; i++ {
		all = append(all, fmt.Sprintf("n%d", i))
	}
	live = all[3:]
	f.pass()
	f.step(time.Second, all...)
	for i := 0; i < 5; i++ {
		f.step(time.Second, live...)
	}
	noExecute := func() int {
		k := 0
		for _, n := range all[:3] {
			if ourTaint(f.node(n), corev1.TaintEffectNoExecute) != "" {
				k++
			}
		}
		return k
	}
	counts := []int{}
	for i := 0; i < 4; i++ {
		f.step(time.Second, live...)
		counts = append(counts, noExecute())
	}
	if fmt.Sprint(counts) != "[1 2 3 3]" {
		t.Fatalf("NoExecute-tainted nodes per second %v, want [1 2 3 3]", counts)
	}
	for _, n := range all[:3] {
		if ourTaint(f.node(n), corev1.TaintEffectNoSchedule) == "" {
			t.Fatalf("%s has no NoSchedule taint: it is not rate limited", n)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(2, 1, t0)
	if !b.tryAccept(t0) || b.tryAccept(t0) {
		t.Fatal("burst of 1")
	}
	if b.tryAccept(t0.Add(400*time.Millisecond)) || !b.tryAccept(t0.Add(500*time.Millisecond)) {
		t.Fatal("2/s")
	}
	if !b.tryAccept(t0.Add(time.Hour)) || b.tryAccept(t0.Add(time.Hour)) {
		t.Fatal("tokens accumulate beyond the burst")
	}
}

func TestWantTaintsKeepsOthers(t *testing.T) {
	now := metav1.NewTime(t0)
	cur := []corev1.Taint{{Key: "a", Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}, {Key: "b", Effect: corev1.TaintEffectNoExecute}}
	got, changed := wantTaints(cur, &desired{noSchedule: corev1.TaintNodeUnreachable, noExecute: corev1.TaintNodeUnreachable}, nil, now)
	n := &corev1.Node{Spec: corev1.NodeSpec{Taints: got}}
	if !changed || !equal(taintsOf(n), []string{"a:NoSchedule", "b:NoExecute", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}) {
		t.Fatalf("%v %v", changed, taintsOf(n))
	}
	if _, changed := wantTaints(got, &desired{noSchedule: corev1.TaintNodeUnreachable, noExecute: corev1.TaintNodeUnreachable}, nil, now); changed {
		t.Fatal("changed an already desired set")
	}
}
