package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"corral/controllers/history"
)

func waitNodesReady(t *testing.T, c kubernetes.Interface, names ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("nodes %v ready", names), func(ctx context.Context) (bool, error) {
		for _, name := range names {
			n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			ready := false
			for _, cond := range n.Status.Conditions {
				ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
			}
			if !ready {
				return false, nil
			}
		}
		return true, nil
	})
}

func newDaemonSet(name, image string, nodeLabel map[string]string) *appsv1.DaemonSet {
	lbl := map[string]string{"app": name}
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: lbl},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
			Spec: corev1.PodSpec{NodeSelector: nodeLabel, Containers: []corev1.Container{{Name: "c", Image: image}}}},
	}}
}

// daemonPods returns the live pods of a DaemonSet by node, and the others.
func daemonPods(ctx context.Context, c kubernetes.Interface, ns, app string) (running map[string]corev1.Pod, live int, err error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, 0, err
	}
	running = map[string]corev1.Pod{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		live++
		if p.Status.Phase == corev1.PodRunning {
			running[p.Spec.NodeName] = p
		}
	}
	return running, live, nil
}

// waitDaemonPodsOn waits until exactly the given nodes run one live pod each.
func waitDaemonPodsOn(t *testing.T, c kubernetes.Interface, ns, app string, nodes ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("daemon pods of %s running on exactly %v", app, nodes), func(ctx context.Context) (bool, error) {
		running, live, err := daemonPods(ctx, c, ns, app)
		if err != nil {
			return false, nil
		}
		if live != len(nodes) || len(running) != len(nodes) {
			return false, nil
		}
		for _, n := range nodes {
			if _, ok := running[n]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
}

func waitDaemonSetStatus(t *testing.T, c kubernetes.Interface, ns, name string, desired int32) *appsv1.DaemonSet {
	t.Helper()
	var got *appsv1.DaemonSet
	defer func() {
		if t.Failed() && got != nil {
			t.Logf("daemonset status: %+v", got.Status)
		}
	}()
	eventually(t, fmt.Sprintf("daemonset %s status for %d nodes", name, desired), func(ctx context.Context) (bool, error) {
		ds, err := c.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = ds
		st := ds.Status
		return st.ObservedGeneration == ds.Generation && st.DesiredNumberScheduled == desired && st.CurrentNumberScheduled == desired &&
			st.NumberReady == desired && st.NumberAvailable == desired && st.UpdatedNumberScheduled == desired &&
			st.NumberMisscheduled == 0 && st.NumberUnavailable == 0, nil
	})
	return got
}

// TestDaemonSetFollowsNodes: one pod per labelled node, on nodes joining,
// tainted NoExecute (and untainted) and deleted.
func TestDaemonSetFollowsNodes(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/daemonset": "follow"}
	startLabeledNodes(t, "dsf", 2, lbl)
	waitNodesReady(t, c, "dsf-0", "dsf-1")
	ns := newNamespace(t, "ds-follow")
	if _, err := c.AppsV1().DaemonSets(ns).Create(ctx, newDaemonSet("agent", "busybox:1.36", lbl), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemonPodsOn(t, c, ns, "agent", "dsf-0", "dsf-1")
	waitDaemonSetStatus(t, c, ns, "agent", 2)

	// The pods are pinned by affinity (the scheduler binds them), carry the
	// revision hash and the default tolerations.
	running, _, err := daemonPods(ctx, c, ns, "agent")
	if err != nil {
		t.Fatal(err)
	}
	p := running["dsf-0"]
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "dsf-0" {
		t.Errorf("pod on dsf-0 is not pinned by matchFields: %+v", terms)
	}
	if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
		t.Errorf("pod lacks %s: %v", appsv1.DefaultDaemonSetUniqueLabelKey, p.Labels)
	}
	tolerated := map[string]bool{}
	for _, tol := range p.Spec.Tolerations {
		tolerated[tol.Key+":"+string(tol.Effect)] = true
	}
	for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/unschedulable:NoSchedule", "node.kubernetes.io/disk-pressure:NoSchedule"} {
		if !tolerated[want] {
			t.Errorf("pod lacks the default toleration %s: %v", want, p.Spec.Tolerations)
		}
	}
	revs, err := c.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil || len(revs.Items) != 1 || revs.Items[0].Revision != 1 {
		t.Fatalf("want one ControllerRevision numbered 1, got %v (%v)", revs, err)
	}

	// A node joins.
	stopExtra := startLabeledNodes(t, "dsf-extra", 1, lbl)
	waitDaemonPodsOn(t, c, ns, "agent", "dsf-0", "dsf-1", "dsf-extra")
	waitDaemonSetStatus(t, c, ns, "agent", 3)

	// A NoExecute taint the pods do not tolerate evicts the daemon pod;
	// removing it brings the pod back.
	taint := func(taints []corev1.Taint) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"taints":%s}}`, mustJSON(t, taints))
		if _, err := c.CoreV1().Nodes().Patch(ctx, "dsf-1", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	taint([]corev1.Taint{{Key: "corral.test/drain", Value: "x", Effect: corev1.TaintEffectNoExecute}})
	waitDaemonPodsOn(t, c, ns, "agent", "dsf-0", "dsf-extra")
	waitDaemonSetStatus(t, c, ns, "agent", 2)
	taint(nil)
	waitDaemonPodsOn(t, c, ns, "agent", "dsf-0", "dsf-1", "dsf-extra")
	waitDaemonSetStatus(t, c, ns, "agent", 3)

	// A node leaves: its agent stops and the Node is deleted; the pod goes
	// with it and the DaemonSet no longer counts the node.
	stopExtra()
	if err := c.CoreV1().Nodes().Delete(ctx, "dsf-extra", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	waitDaemonSetStatus(t, c, ns, "agent", 2)
	waitDaemonPodsOn(t, c, ns, "agent", "dsf-0", "dsf-1")
}

// TestDaemonSetRollingUpdate: a template change rolls over the nodes, and
// the real kubectl's rollout status, history and undo work on it.
func TestDaemonSetRollingUpdate(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/daemonset": "rolling"}
	startLabeledNodes(t, "dsr", 3, lbl)
	waitNodesReady(t, c, "dsr-0", "dsr-1", "dsr-2")
	k := newKctl(t, kubectlBinary{name: "usr-bin", path: "/usr/bin/kubectl"}, t.TempDir(), "ds-rolling")
	if _, err := c.AppsV1().DaemonSets(k.ns).Create(ctx, newDaemonSet("logs", "busybox:1.36", lbl), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDaemonPodsOn(t, c, k.ns, "logs", "dsr-0", "dsr-1", "dsr-2")
	k.run("rollout", "status", "daemonset/logs", "--timeout=60s").must().has("successfully rolled out")

	// During the update at most maxUnavailable (1) of the 3 nodes may lack
	// a ready pod: follow every pod change and keep the lowest count.
	avail := watchReadyNodes(t, c, k.ns, "app=logs")
	k.run("set", "image", "daemonset/logs", "c=busybox:1.37").must()
	k.run("rollout", "status", "daemonset/logs", "--timeout=60s").must().has("successfully rolled out")
	waitDaemonSetStatus(t, c, k.ns, "logs", 3)
	if low, events := avail.lowest(); low < 2 || events == 0 {
		t.Errorf("during the rolling update %d nodes had a ready pod at the worst moment (want >= 2; %d events)", low, events)
	}
	images := func() map[string]string {
		running, _, err := daemonPods(ctx, c, k.ns, "logs")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for n, p := range running {
			out[n] = p.Spec.Containers[0].Image
		}
		return out
	}
	waitDaemonSetStatus(t, c, k.ns, "logs", 3)
	for n, img := range images() {
		if img != "busybox:1.37" {
			t.Errorf("node %s still runs %s after the rollout", n, img)
		}
	}
	k.run("rollout", "history", "daemonset/logs").must().has("1 ", "2 ")
	k.run("rollout", "history", "daemonset/logs", "--revision=1").must().has("busybox:1.36")

	k.run("rollout", "undo", "daemonset/logs").must().has("rolled back")
	eventually(t, "pods back on busybox:1.36", func(ctx context.Context) (bool, error) {
		running, live, err := daemonPods(ctx, c, k.ns, "logs")
		if err != nil || live != 3 || len(running) != 3 {
			return false, nil
		}
		for _, p := range running {
			if p.Spec.Containers[0].Image != "busybox:1.36" {
				return false, nil
			}
		}
		return true, nil
	})
	k.run("rollout", "status", "daemonset/logs", "--timeout=60s").must().has("successfully rolled out")
	// The restored template is the newest revision again: 2 and 3 remain.
	h := k.run("rollout", "history", "daemonset/logs").must()
	revs, err := c.AppsV1().ControllerRevisions(k.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=logs"})
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, r := range revs.Items {
		nums = append(nums, fmt.Sprint(r.Revision))
	}
	if got := strings.Join(sortedStrings(nums), ","); got != "2,3" {
		t.Errorf("revisions after undo: got %s, want 2,3\n%s", got, h.stdout)
	}
	// Undoing to the current template changes nothing. (kubectl 1.32 does
	// not print "skipped": its client-go writes "creationTimestamp":null
	// into the template patch it compares, which v0.37 types omit, so the
	// bytes differ as they do against an upstream 1.37 controller.)
	before, err := c.AppsV1().DaemonSets(k.ns).Get(ctx, "logs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.run("rollout", "undo", "daemonset/logs", "--to-revision=3").must()
	after, err := c.AppsV1().DaemonSets(k.ns).Get(ctx, "logs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Generation != before.Generation {
		t.Errorf("undo to the current revision changed the spec: generation %d -> %d", before.Generation, after.Generation)
	}
	if patch, _ := history.TemplatePatch(after); !strings.Contains(string(patch), "busybox:1.36") {
		t.Errorf("template after undo: %s", patch)
	}
}

// readyNodes follows a selector's pods and records the lowest number of
// nodes with a ready, not terminating pod seen after it started.
type readyNodes struct {
	mu     sync.Mutex
	pods   map[string]*corev1.Pod
	low    int
	events int
}

func watchReadyNodes(t *testing.T, c kubernetes.Interface, ns, selector string) *readyNodes {
	t.Helper()
	list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	r := &readyNodes{pods: map[string]*corev1.Pod{}}
	for i := range list.Items {
		r.pods[list.Items[i].Name] = &list.Items[i]
	}
	r.low = r.count()
	w, err := c.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for e := range w.ResultChan() {
			p, ok := e.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			r.mu.Lock()
			if e.Type == watch.Deleted {
				delete(r.pods, p.Name)
			} else {
				r.pods[p.Name] = p
			}
			r.events++
			r.low = min(r.low, r.count())
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *readyNodes) count() int {
	nodes := map[string]bool{}
	for _, p := range r.pods {
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				nodes[p.Spec.NodeName] = true
			}
		}
	}
	return len(nodes)
}

func (r *readyNodes) lowest() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.low, r.events
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
