package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
)

func newFixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewController(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts())
	for _, o := range objects {
		switch x := o.(type) {
		case *corev1.Namespace:
			factory.Core().V1().Namespaces().Informer().GetIndexer().Add(x)
		case *corev1.ServiceAccount:
			factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(x)
		}
	}
	client.ClearActions()
	return c, client
}

func ns(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func creates(actions []core.Action) []string {
	var out []string
	for _, a := range actions {
		if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
			out = append(out, a.GetNamespace())
		}
	}
	return out
}

func TestSync(t *testing.T) {
	cases := []struct {
		name    string
		objects []runtime.Object
		sync    string
		want    []string
	}{
		{"active namespace without one gets it", []runtime.Object{ns("a", corev1.NamespaceActive)}, "a", []string{"a"}},
		{"existing default is left alone", []runtime.Object{ns("a", corev1.NamespaceActive),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "a"}}}, "a", nil},
		{"terminating namespace gets none", []runtime.Object{ns("a", corev1.NamespaceTerminating)}, "a", nil},
		{"missing namespace is no error", nil, "gone", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := newFixture(t, tc.objects...)
			if err := c.sync(context.Background(), tc.sync); err != nil {
				t.Fatal(err)
			}
			got := creates(client.Actions())
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("creates in %v, want %v", got, tc.want)
			}
		})
	}
}
