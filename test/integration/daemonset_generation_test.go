package integration

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestDaemonSetTemplateGeneration: the API server keeps the deprecated
// template generation annotation as upstream does (1 on create, +1 per
// template change, untouched by other changes and by status writes), and
// the controller labels the pods of each generation with it.
func TestDaemonSetTemplateGeneration(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	lbl := map[string]string{"corral.test/daemonset": "generation"}
	startLabeledNodes(t, "dsg", 2, lbl)
	waitNodesReady(t, c, "dsg-0", "dsg-1")
	ns := newNamespace(t, "ds-generation")

	created, err := c.AppsV1().DaemonSets(ns).Create(ctx, newDaemonSet("gen", "busybox:1.36", lbl), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := created.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" || created.Generation != 1 {
		t.Fatalf("created: annotation %q generation %d, want \"1\" and 1", got, created.Generation)
	}
	waitGenerationPods := func(gen, image string) {
		t.Helper()
		eventually(t, fmt.Sprintf("both pods of template generation %s running %s", gen, image), func(ctx context.Context) (bool, error) {
			running, live, err := daemonPods(ctx, c, ns, "gen")
			if err != nil || live != 2 || len(running) != 2 {
				return false, nil
			}
			for _, p := range running {
				if p.Labels["pod-template-generation"] != gen || p.Spec.Containers[0].Image != image {
					return false, nil
				}
			}
			return true, nil
		})
	}
	waitGenerationPods("1", "busybox:1.36")
	ds := waitDaemonSetStatus(t, c, ns, "gen", 2)
	// The controller's status writes keep it.
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
		t.Errorf("after status updates: annotation %q, want \"1\"", got)
	}

	// A template change bumps both counters.
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}}}`
	ds, err = c.AppsV1().DaemonSets(ns).Patch(ctx, "gen", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" || ds.Generation != 2 {
		t.Fatalf("template update: annotation %q generation %d, want \"2\" and 2", got, ds.Generation)
	}
	waitGenerationPods("2", "busybox:1.37")

	// Another spec change bumps metadata.generation only; a client's
	// attempt to set the annotation does not stick.
	patch = `{"metadata":{"annotations":{"deprecated.daemonset.template.generation":"7"}},"spec":{"minReadySeconds":1}}`
	ds, err = c.AppsV1().DaemonSets(ns).Patch(ctx, "gen", types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" || ds.Generation != 3 {
		t.Fatalf("minReadySeconds update: annotation %q generation %d, want \"2\" and 3", got, ds.Generation)
	}
	waitDaemonSetStatus(t, c, ns, "gen", 2)
	waitGenerationPods("2", "busybox:1.37")
}
