package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// TestPodDisruptionBudget: the disruption controller opens a budget of
// minAvailable 2 over a Deployment of 3 for one disruption; the eviction
// subresource takes it, refuses a second one with 429 until the
// replacement is Ready, and the real kubectl drains a node through
// evictions without going below the budget.
func TestPodDisruptionBudget(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	nodeLabel := map[string]string{"corral.test/disruption": "pdb"}
	startLabeledNodes(t, "pdb", 2, nodeLabel)
	waitNodesReady(t, c, "pdb-0", "pdb-1")
	k := newKctl(t, kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}, t.TempDir(), "pdb")
	ns := k.ns

	// Replacements take 2 s to turn Ready, so an eviction right after
	// another finds the budget spent.
	app := map[string]string{"corral.test/pdb": "web"}
	replicas := int32(3)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: app},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: app, Annotations: map[string]string{"sim.corral.dev/ready-after": "2s"}},
			Spec: corev1.PodSpec{NodeSelector: nodeLabel, TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}},
	}}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	minAvailable := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: &metav1.LabelSelector{MatchLabels: app}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitBudget(t, c, ns, "web", 3, 1)
	if got.Status.DesiredHealthy != 2 || got.Status.ExpectedPods != 3 {
		t.Errorf("status %+v, want desiredHealthy 2 and expectedPods 3", got.Status)
	}
	cond := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != policyv1.SufficientPodsReason {
		t.Errorf("DisruptionAllowed condition %+v, want True/SufficientPods", cond)
	}
	k.run("get", "pdb", "web").must().has("web", "2", "N/A", "1")

	// From here on, count the Ready pods that are not going away; no
	// eviction may take them below 2.
	low := watchAvailable(t, c, ns, "corral.test/pdb=web")

	pods := readyPods(t, c, ns)
	evict := func(name string) error {
		return c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	// A finalizer holds the first victim, so its DisruptionTarget
	// condition can be read after the eviction.
	hold := func(name string, finalizers string) {
		t.Helper()
		patch := []byte(`{"metadata":{"finalizers":` + finalizers + `}}`)
		if _, err := c.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hold(pods[0], `["corral.test/hold"]`)
	if err := evict(pods[0]); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	err := evict(pods[1])
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction right after the first: %v, want 429 Too Many Requests", err)
	}
	if !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("429 message %q does not name the budget", err)
	}

	if p, err := c.CoreV1().Pods(ns).Get(ctx, pods[0], metav1.GetOptions{}); err != nil {
		t.Errorf("held pod: %v", err)
	} else if c := podCondition(p, corev1.DisruptionTarget); c == nil || c.Reason != "EvictionByEvictionAPI" {
		t.Errorf("evicted pod's DisruptionTarget condition %+v, want reason EvictionByEvictionAPI", c)
	}
	hold(pods[0], "null")

	// Once the replacement is Ready the budget opens again.
	waitBudget(t, c, ns, "web", 3, 1)
	pods = readyPods(t, c, ns)
	if err := evict(pods[0]); err != nil {
		t.Fatalf("eviction after the replacement is Ready: %v", err)
	}
	waitBudget(t, c, ns, "web", 3, 1)

	// kubectl drain cordons the node and evicts its pods, retrying the
	// ones the budget refuses until replacements elsewhere are Ready.
	node := busiestNode(t, c, ns)
	other := map[string]string{"pdb-0": "pdb-1", "pdb-1": "pdb-0"}[node]
	drain := k.global("drain", node, "--pod-selector=corral.test/pdb=web", "--ignore-daemonsets", "--delete-emptydir-data",
		"--timeout=55s").must().has("evicted", "drained")
	// The busiest node holds at least 2 of the 3 pods: the budget refused
	// one of them at first.
	drain.errHas("would violate the pod's disruption budget")
	t.Logf("kubectl drain %s:\n%s%s", node, drain.stdout, drain.stderr)
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("node %s after drain: unschedulable=%v (%v)", node, n != nil && n.Spec.Unschedulable, err)
	}
	eventually(t, "all 3 pods Ready on "+other, func(ctx context.Context) (bool, error) {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "corral.test/pdb=web"})
		if err != nil {
			return false, nil
		}
		onOther := 0
		for _, p := range list.Items {
			if p.Spec.NodeName == node {
				return false, nil
			}
			if p.DeletionTimestamp == nil && pdbPodReady(&p) {
				onOther++
			}
		}
		return onOther == 3, nil
	})
	waitBudget(t, c, ns, "web", 3, 1)
	k.global("uncordon", node).must()
	if m, events := low.lowest(); m < 2 || events == 0 {
		t.Errorf("at the worst moment %d pods were available (want >= 2; %d events)", m, events)
	}
}

// waitBudget waits until the controller has observed the budget with the
// given healthy count and allowed disruptions.
func waitBudget(t *testing.T, c kubernetes.Interface, ns, name string, healthy, allowed int32) *policyv1.PodDisruptionBudget {
	t.Helper()
	var got *policyv1.PodDisruptionBudget
	eventually(t, fmt.Sprintf("budget %s: %d healthy, %d disruptions allowed", name, healthy, allowed), func(ctx context.Context) (bool, error) {
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = pdb
		return pdb.Status.ObservedGeneration == pdb.Generation && pdb.Status.CurrentHealthy == healthy &&
			pdb.Status.DisruptionsAllowed == allowed, nil
	})
	return got
}

func pdbPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPods returns the names of the Ready, not terminating pods.
func readyPods(t *testing.T, c kubernetes.Interface, ns string) []string {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "corral.test/pdb=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && pdbPodReady(&p) {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	if len(out) < 2 {
		t.Fatalf("only %d ready pods: %v", len(out), out)
	}
	return out
}

// busiestNode returns the node running most of the pods.
func busiestNode(t *testing.T, c kubernetes.Interface, ns string) string {
	t.Helper()
	running, _, err := podsOn(context.Background(), c, ns, "corral.test/pdb=web")
	if err != nil {
		t.Fatal(err)
	}
	if running["pdb-1"] > running["pdb-0"] {
		return "pdb-1"
	}
	return "pdb-0"
}

// available follows a selector's pods and records the lowest number of
// Ready, not terminating pods seen.
type available struct {
	mu     sync.Mutex
	pods   map[string]*corev1.Pod
	low    int
	events int
}

func watchAvailable(t *testing.T, c kubernetes.Interface, ns, selector string) *available {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	a := &available{pods: map[string]*corev1.Pod{}}
	for i := range list.Items {
		a.pods[list.Items[i].Name] = &list.Items[i]
	}
	a.low = a.count()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			a.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(a.pods, p.Name)
			} else {
				a.pods[p.Name] = p
			}
			a.events++
			a.low = min(a.low, a.count())
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *available) count() int {
	n := 0
	for _, p := range a.pods {
		if p.DeletionTimestamp == nil && pdbPodReady(p) {
			n++
		}
	}
	return n
}

func (a *available) lowest() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.low, a.events
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
