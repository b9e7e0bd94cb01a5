package integration

import (
	"context"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func readToken() (string, error) {
	data, err := readFile(filepath.Join(shared.DataDir, "token"))
	return string(trimNewline(data)), err
}

func podsOn(ctx context.Context, c kubernetes.Interface, ns, selector string) (running map[string]int, total int, err error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, 0, err
	}
	running = map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running[p.Spec.NodeName]++
		}
	}
	return running, len(pods.Items), nil
}

// TestWorkloadsOnSimulatedNodes: a Deployment spreads over simulated
// nodes and runs; a Job completes; when a node dies its pods are
// replaced on the others.
func TestWorkloadsOnSimulatedNodes(t *testing.T) {
	c := clientset(t)
	// Its own nodes, selected by label: other tests' nodes may still be
	// registered while they shut down.
	lbl := map[string]string{"corral.test/workloads": "true"}
	startLabeledNodes(t, "wl", 3, lbl)
	killVictim := startLabeledNodes(t, "wl-victim", 1, lbl)
	ns := newNamespace(t, "workloads")
	dumpRolloutOnFailure(t, c, ns)
	// All four nodes must be Ready before the pods are placed, or a slow
	// victim would get none of them.
	eventually(t, "4 simulated nodes ready", func(ctx context.Context) (bool, error) {
		ready := 0
		for _, name := range []string{"wl-0", "wl-1", "wl-2", "wl-victim"} {
			n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 4, nil
	})
	replicas := int32(8)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeSelector: lbl, Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}}}},
	}}
	if _, err := c.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Spreading is a score, not a rule: the victim must hold some pods,
	// not exactly a quarter.
	var last map[string]int
	defer func() {
		if t.Failed() {
			t.Logf("running pods per node: %v", last)
		}
	}()
	eventually(t, "8 pods running, some on the victim", func(ctx context.Context) (bool, error) {
		running, _, err := podsOn(ctx, c, ns, "app=web")
		last = running
		if err != nil {
			return false, nil
		}
		sum := 0
		for _, n := range running {
			sum += n
		}
		return sum == 8 && running["wl-victim"] > 0, nil
	})
	eventually(t, "deployment available", func(ctx context.Context) (bool, error) {
		got, err := c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && got.Status.AvailableReplicas == 8 && got.Status.UpdatedReplicas == 8, nil
	})

	// A Job runs to completion on the simulated runtime.
	completions := int32(3)
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Spec: batchv1.JobSpec{Completions: &completions,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, NodeSelector: lbl,
			Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}}}
	if _, err := c.BatchV1().Jobs(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			got, _ := c.BatchV1().Jobs(ns).Get(context.Background(), "batch", metav1.GetOptions{})
			t.Logf("job status: %+v", got.Status)
			pods, _ := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=batch"})
			for _, p := range pods.Items {
				t.Logf("job pod %s node %q phase %s finalizers %v deleting %v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Finalizers, p.DeletionTimestamp)
			}
		}
	}()
	eventually(t, "job complete", func(ctx context.Context) (bool, error) {
		got, err := c.BatchV1().Jobs(ns).Get(ctx, "batch", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
				return got.Status.Succeeded == 3, nil
			}
		}
		return false, nil
	})

	// The victim node dies; its pods are replaced on the three others.
	killVictim()
	eventually(t, "8 pods running on the 3 live nodes", func(ctx context.Context) (bool, error) {
		running, _, err := podsOn(ctx, c, ns, "app=web")
		if err != nil {
			return false, nil
		}
		sum := 0
		for _, n := range running {
			sum += n
		}
		return sum == 8 && running["wl-victim"] == 0, nil
	})
}
