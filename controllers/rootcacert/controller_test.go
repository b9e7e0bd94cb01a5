package rootcacert

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

const pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func newFixture(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewSimpleClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, []byte(pemCA), factory.Core().V1().Namespaces(), factory.Core().V1().ConfigMaps())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objects {
		switch x := o.(type) {
		case *corev1.Namespace:
			factory.Core().V1().Namespaces().Informer().GetIndexer().Add(x)
		case *corev1.ConfigMap:
			factory.Core().V1().ConfigMaps().Informer().GetIndexer().Add(x)
		}
	}
	client.ClearActions()
	return c, client
}

func ns(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func cm(namespace string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: namespace,
		Annotations: map[string]string{descriptionAnnotation: description}}, Data: data}
}

func TestSync(t *testing.T) {
	cases := []struct {
		name    string
		objects []runtime.Object
		verb    string // the one write expected, "" for none
	}{
		{"new namespace gets the ConfigMap", []runtime.Object{ns("a", corev1.NamespaceActive)}, "create"},
		{"current ConfigMap is left alone", []runtime.Object{ns("a", corev1.NamespaceActive), cm("a", map[string]string{DataKey: pemCA})}, ""},
		{"edited ConfigMap is put back", []runtime.Object{ns("a", corev1.NamespaceActive), cm("a", map[string]string{DataKey: "junk", "x": "y"})}, "update"},
		{"terminating namespace gets none", []runtime.Object{ns("a", corev1.NamespaceTerminating)}, ""},
		{"missing namespace is no error", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, client := newFixture(t, tc.objects...)
			if err := c.sync(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			var writes []string
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					writes = append(writes, a.GetVerb())
				}
			}
			if tc.verb == "" && len(writes) > 0 || tc.verb != "" && (len(writes) != 1 || writes[0] != tc.verb) {
				t.Fatalf("writes %v, want %q", writes, tc.verb)
			}
			if tc.verb == "" {
				return
			}
			got, err := client.CoreV1().ConfigMaps("a").Get(context.Background(), ConfigMapName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Data) != 1 || got.Data[DataKey] != pemCA || got.Annotations[descriptionAnnotation] != description {
				t.Fatalf("ConfigMap is %v %v", got.Data, got.Annotations)
			}
		})
	}
}

func TestNoCA(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewSimpleClientset(), 0)
	if _, err := NewController(fake.NewSimpleClientset(), nil, factory.Core().V1().Namespaces(), factory.Core().V1().ConfigMaps()); err == nil {
		t.Fatal("a controller without a CA was made")
	}
}
