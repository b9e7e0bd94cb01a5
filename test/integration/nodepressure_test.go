package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"corral/agent"
)

// TestNodePressureTaints: a simulated node told to report memory pressure
// (its sim.corral.dev/pressure annotation) posts MemoryPressure=True, the
// node lifecycle controller taints it node.kubernetes.io/memory-pressure
// NoSchedule, and a pod that may only go there waits for the pressure to
// clear.
func TestNodePressureTaints(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/pressure": "yes"}
	startLabeledNodes(t, "press", 1, lbl)
	waitNodesReady(t, c, "press")
	setPressure := func(v string) {
		t.Helper()
		patch := `{"metadata":{"annotations":{"` + agent.AnnotationSimPressure + `":"` + v + `"}}}`
		if _, err := c.CoreV1().Nodes().Patch(ctx, "press", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	state := func(ctx context.Context) (corev1.ConditionStatus, bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, "press", metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		var status corev1.ConditionStatus
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeMemoryPressure {
				status = cond.Status
			}
		}
		tainted := false
		for _, taint := range n.Spec.Taints {
			tainted = tainted || (taint.Key == corev1.TaintNodeMemoryPressure && taint.Effect == corev1.TaintEffectNoSchedule)
		}
		return status, tainted, nil
	}

	setPressure("memory")
	eventually(t, "MemoryPressure=True and the memory-pressure taint", func(ctx context.Context) (bool, error) {
		status, tainted, err := state(ctx)
		return status == corev1.ConditionTrue && tainted, err
	})

	ns := newNamespace(t, "node-pressure")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "waits"},
		Spec: corev1.PodSpec{NodeSelector: lbl, Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pod unschedulable for the taint", func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "waits", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			t.Fatalf("pod bound to %s despite the taint", p.Spec.NodeName)
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse &&
				strings.Contains(cond.Message, corev1.TaintNodeMemoryPressure) {
				return true, nil
			}
		}
		return false, nil
	})

	setPressure("")
	eventually(t, "pressure and taint gone, pod bound", func(ctx context.Context) (bool, error) {
		status, tainted, err := state(ctx)
		if err != nil || status != corev1.ConditionFalse || tainted {
			return false, err
		}
		p, err := c.CoreV1().Pods(ns).Get(ctx, "waits", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName == "press", err
	})
}
