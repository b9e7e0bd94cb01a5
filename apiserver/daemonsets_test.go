package apiserver

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"corral/api"
)

func daemonSet(image string, annotations map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "n", Annotations: annotations},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}},
	}
}

func TestDaemonSetTemplateGeneration(t *testing.T) {
	res := api.Lookup(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"})
	st := newStrategy(res, hooksFor[res.GroupResource()])
	ctx := context.Background()
	gen := func(ds *appsv1.DaemonSet) string { return ds.Annotations[appsv1.DeprecatedTemplateGeneration] }

	created := daemonSet("a", nil)
	st.PrepareForCreate(ctx, created)
	if gen(created) != "1" || created.Generation != 1 {
		t.Fatalf("create: annotation %q generation %d, want 1 and 1", gen(created), created.Generation)
	}
	// A client's own value of at least 1 is kept on create, as upstream does.
	own := daemonSet("a", map[string]string{appsv1.DeprecatedTemplateGeneration: "4"})
	st.PrepareForCreate(ctx, own)
	if gen(own) != "4" {
		t.Errorf("create with annotation 4: %q", gen(own))
	}

	// A template change bumps it; the client's copy (here dropped) does not count.
	changed := daemonSet("b", map[string]string{"x": "y"})
	changed.Generation = 1
	st.PrepareForUpdate(ctx, changed, created)
	if gen(changed) != "2" || changed.Generation != 2 || changed.Annotations["x"] != "y" {
		t.Fatalf("template update: annotations %v generation %d, want 2 and 2", changed.Annotations, changed.Generation)
	}

	// Other spec changes bump metadata.generation only.
	other := changed.DeepCopy()
	other.Spec.MinReadySeconds = 5
	other.Annotations[appsv1.DeprecatedTemplateGeneration] = "9"
	st.PrepareForUpdate(ctx, other, changed)
	if gen(other) != "2" || other.Generation != 3 {
		t.Fatalf("spec update: annotation %q generation %d, want 2 and 3", gen(other), other.Generation)
	}

	// A status update keeps the stored value.
	status := other.DeepCopy()
	delete(status.Annotations, appsv1.DeprecatedTemplateGeneration)
	status.Status.NumberReady = 1
	statusStrategy{st}.PrepareForUpdate(ctx, status, other)
	if gen(status) != "2" || status.Status.NumberReady != 1 {
		t.Fatalf("status update: annotation %q status %+v", gen(status), status.Status)
	}

	// Objects stored without it start at 1 on their next update.
	legacy := daemonSet("a", nil)
	next := daemonSet("a", nil)
	st.PrepareForUpdate(ctx, next, legacy)
	if gen(next) != "1" {
		t.Errorf("update of an object without the annotation: %q", gen(next))
	}
}
