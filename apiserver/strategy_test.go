package apiserver

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"corral/api"
)

func deployment(replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "n", Generation: 3},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}},
		Status: appsv1.DeploymentStatus{Replicas: 7},
	}
}

func TestStrategySeparatesSpecAndStatus(t *testing.T) {
	st := newStrategy(api.Lookup(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}), hooks{})
	ctx := context.Background()

	created := deployment(1, "a")
	st.PrepareForCreate(ctx, created)
	if created.Status.Replicas != 0 || created.Generation != 1 {
		t.Fatalf("create: status %+v generation %d", created.Status, created.Generation)
	}

	old := deployment(1, "a")
	sameSpec := deployment(1, "a")
	sameSpec.Labels = map[string]string{"x": "y"}
	sameSpec.Status.Replicas = 99
	st.PrepareForUpdate(ctx, sameSpec, old)
	if sameSpec.Generation != 3 || sameSpec.Status.Replicas != 7 {
		t.Fatalf("metadata-only update: generation %d, status %d (want 3 and the old status 7)", sameSpec.Generation, sameSpec.Status.Replicas)
	}
	changed := deployment(1, "b")
	st.PrepareForUpdate(ctx, changed, old)
	if changed.Generation != 4 {
		t.Fatalf("spec update: generation %d, want 4", changed.Generation)
	}

	status := deployment(5, "c")
	status.Status.Replicas = 2
	statusStrategy{st}.PrepareForUpdate(ctx, status, old)
	if *status.Spec.Replicas != 1 || status.Spec.Template.Spec.Containers[0].Image != "a" || status.Status.Replicas != 2 || status.Generation != 3 {
		t.Fatalf("status update changed spec or lost status: %+v", status)
	}
}

func TestQOSClass(t *testing.T) {
	res := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	cases := []struct {
		name     string
		requests corev1.ResourceList
		limits   corev1.ResourceList
		want     corev1.PodQOSClass
	}{
		{"nothing", nil, nil, corev1.PodQOSBestEffort},
		{"equal requests and limits", res("1", "1Gi"), res("1", "1Gi"), corev1.PodQOSGuaranteed},
		{"limits only", nil, res("1", "1Gi"), corev1.PodQOSGuaranteed},
		{"requests below limits", res("500m", "1Gi"), res("1", "1Gi"), corev1.PodQOSBurstable},
		{"cpu only", res("1", ""), res("1", ""), corev1.PodQOSBurstable},
	}
	for _, c := range cases {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: c.requests, Limits: c.limits}}}}
		if got := qosClass(spec); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestScaleOf(t *testing.T) {
	d := deployment(4, "a")
	d.Status.Replicas = 3
	s, err := scaleOf(d)
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Replicas != 4 || s.Status.Replicas != 3 || s.Status.Selector != "a=b" || s.Name != "d" {
		t.Fatalf("scale: %+v", s)
	}
}

func TestAuthorizer(t *testing.T) {
	tokens := NewTokenAuthenticator("admin-token", "join-token")
	resp, ok, _ := tokens.AuthenticateToken(context.Background(), "join-token")
	if !ok || resp.User.GetGroups()[0] != JoinGroup {
		t.Fatalf("join token: %v %v", ok, resp)
	}
	if _, ok, _ := tokens.AuthenticateToken(context.Background(), "nope"); ok {
		t.Fatal("unknown token accepted")
	}
}
