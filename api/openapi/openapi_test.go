package openapi

import (
	"testing"

	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func definitions(t *testing.T) map[string]common.OpenAPIDefinition {
	t.Helper()
	defs := GetOpenAPIDefinitions(func(path string) spec.Ref {
		return spec.MustCreateRef("#/definitions/" + path)
	})
	if len(defs) == 0 {
		t.Fatal("GetOpenAPIDefinitions returned no definitions")
	}
	return defs
}

func property(t *testing.T, defs map[string]common.OpenAPIDefinition, model, field string) spec.Schema {
	t.Helper()
	def, ok := defs[model]
	if !ok {
		t.Fatalf("no definition for %s", model)
	}
	prop, ok := def.Schema.Properties[field]
	if !ok {
		t.Fatalf("%s has no property %q", model, field)
	}
	return prop
}

func TestPodSpecContainersCarryPatchExtensions(t *testing.T) {
	defs := definitions(t)

	pod, ok := defs["io.k8s.api.core.v1.Pod"]
	if !ok {
		t.Fatal("no definition for io.k8s.api.core.v1.Pod")
	}
	specRef := pod.Schema.Properties["spec"]
	if got := specRef.Ref.String(); got != "#/definitions/io.k8s.api.core.v1.PodSpec" {
		t.Fatalf("Pod.spec refers to %q, want io.k8s.api.core.v1.PodSpec", got)
	}

	containers := property(t, defs, "io.k8s.api.core.v1.PodSpec", "containers")
	want := map[string]string{
		"x-kubernetes-patch-merge-key": "name",
		"x-kubernetes-patch-strategy":  "merge",
		"x-kubernetes-list-type":       "map",
	}
	for k, v := range want {
		got, ok := containers.Extensions.GetString(k)
		if !ok || got != v {
			t.Errorf("PodSpec.containers extension %s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	keys, ok := containers.Extensions["x-kubernetes-list-map-keys"].([]interface{})
	if !ok || len(keys) != 1 || keys[0] != "name" {
		t.Errorf("PodSpec.containers x-kubernetes-list-map-keys = %v, want [name]", containers.Extensions["x-kubernetes-list-map-keys"])
	}
}

func TestExpectedGroupsAndMetaTypesPresent(t *testing.T) {
	defs := definitions(t)
	for _, name := range []string{
		"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
		"io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
		"io.k8s.apimachinery.pkg.runtime.RawExtension",
		"io.k8s.apimachinery.pkg.version.Info",
		"io.k8s.apimachinery.pkg.util.intstr.IntOrString",
		"io.k8s.apimachinery.pkg.api.resource.Quantity",
		"io.k8s.api.apps.v1.Deployment",
		"io.k8s.api.batch.v1.CronJob",
		"io.k8s.api.coordination.v1.Lease",
		"io.k8s.api.discovery.v1.EndpointSlice",
		"io.k8s.api.networking.v1.Ingress",
		"io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
		"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
		"io.k8s.api.policy.v1.PodDisruptionBudget",
		"io.k8s.api.rbac.v1.ClusterRole",
		"io.k8s.api.scheduling.v1.PriorityClass",
		"io.k8s.api.storage.v1.StorageClass",
		"io.k8s.api.events.v1.Event",
		"io.k8s.api.authorization.v1.SubjectAccessReview",
		"io.k8s.api.authentication.v1.TokenReview",
	} {
		if _, ok := defs[name]; !ok {
			t.Errorf("no definition for %s", name)
		}
	}

	// Set-like and atomic lists are marked too.
	finalizers := property(t, defs, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "finalizers")
	if got, _ := finalizers.Extensions.GetString("x-kubernetes-list-type"); got != "set" {
		t.Errorf("ObjectMeta.finalizers x-kubernetes-list-type = %q, want set", got)
	}
}
