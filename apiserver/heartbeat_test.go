package apiserver

import (
	"net/http/httptest"
	"testing"

	apirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestLongRunning(t *testing.T) {
	lease := func(verb, ns string) *apirequest.RequestInfo {
		return &apirequest.RequestInfo{IsResourceRequest: true, Verb: verb, APIGroup: "coordination.k8s.io",
			APIVersion: "v1", Resource: "leases", Namespace: ns, Name: "n1"}
	}
	cases := []struct {
		name string
		ri   *apirequest.RequestInfo
		want bool
	}{
		{"node lease renewal", lease("update", "kube-node-lease"), true},
		{"node lease creation", lease("create", "kube-node-lease"), true},
		{"node lease deletion", lease("delete", "kube-node-lease"), false},
		{"leader election lease", lease("update", "kube-system"), false},
		{"pod status", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "update", Resource: "pods", Subresource: "status", Namespace: "default"}, false},
		{"watch", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "watch", Resource: "pods"}, true},
		{"exec", &apirequest.RequestInfo{IsResourceRequest: true, Verb: "create", Resource: "pods", Subresource: "exec"}, true},
	}
	check := longRunning()
	for _, c := range cases {
		if got := check(httptest.NewRequest("GET", "/", nil), c.ri); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
